"""Faust stream processors.

They validate events and materialize them into the ledger, Redis and the graph.
"""
