"""The commands compose owns: ``stack``, ``db`` and ``topics`` (standing the platform up)."""
