"""The read-only HTTP API: results out, payment intake in."""
