"""The lakehouse kept fresh: ``paystream lakehouse run`` and what it reports."""
