"""Errors shared by every paystream role. Each carries a message meant for a person."""

from __future__ import annotations


class PaystreamError(Exception):
    """Base of all paystream errors."""


class ConfigurationError(PaystreamError):
    """Settings are missing or invalid."""


class ServiceUnavailableError(PaystreamError):
    """A backing service cannot be reached.

    The message names the service, where it was expected, and the command that starts it.
    """

    def __init__(self, service: str, where: str, detail: str = "") -> None:
        self.service = service
        self.where = where
        hint = "start it with `paystream stack up`"
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{service} is not reachable at {where}{extra}; {hint}")
