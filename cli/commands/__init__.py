"""The entry point's own command: ``demo`` (the main job end to end)."""
