"""Sinks: the ledger (MySQL), state (Redis) and graph (Gremlin) adapters."""
