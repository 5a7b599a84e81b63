"""The composition root: the ``paystream`` command, the demo and the fault drills.

This top layer may import every role; nothing below imports it.
"""
