"""The benchmarks' library: recording figures, load generators, shared worlds and reference
measurements. Nothing here runs on its own; the runnable benchmarks are ``bench/<name>.py``
(``python -m bench.<name>``).
"""
