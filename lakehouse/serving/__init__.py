"""Serving the lakehouse to analysts' own tools: the SQL endpoint (HiveServer2 protocol)."""
