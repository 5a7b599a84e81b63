"""The composition root: the ``paystream`` command and the demo.

This top layer may import every role; nothing below imports it.
"""
