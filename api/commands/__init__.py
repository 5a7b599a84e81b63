"""The command the API owns: ``api`` (serve it, manage keys and tokens)."""
