"""Risk role: the real-time risk agent (its readers of Redis and the graph, features, rules,
model) and its command."""
