"""Fault drills: real failures injected into the local stack under load, then reconciled."""
