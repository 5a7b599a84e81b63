"""The commands ingest owns: ``replay``, ``simulate``, ``import`` and ``contracts``."""
