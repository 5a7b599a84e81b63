"""Ingest role: producing events into the bus, with their commands.

The Online Retail replay (``online_retail/``), the synthetic simulator (``simulator/``) and
the import of a risk team's labelled transactions (``transactions/``).
"""
