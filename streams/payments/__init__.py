"""Payments domain: the payment state machine."""
