"""Harnesses for tests, benchmarks and drills: isolated stream worlds, fault drills and sample gold.

Product packages never import this package; the top layer (demo, ``paystream chaos``),
``bench/`` and ``tests/`` do.
"""
