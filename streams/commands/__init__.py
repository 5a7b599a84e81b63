"""The commands streams owns: ``streams`` (sink workers, lag) and ``dlq`` (the dead letters)."""
