"""Faust stream processors: validate events and materialize them into the ledger, Redis and the graph."""
