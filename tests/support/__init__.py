"""Helpers shared by the tests only: hostile card-number records, a SQL endpoint process."""
