// Binds the traversal source `g` that clients address; without it the server has no `g`.
def globals = [:]
globals << [g : graph.traversal()]
