"""The command chaos owns: ``chaos`` (fault drills on the local stack)."""
