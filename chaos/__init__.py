"""Fault drills on the local stack and the ``paystream chaos`` command that runs them."""
