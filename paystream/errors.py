"""Errors shared by every paystream role. Each carries a message meant for a person.

Every error a user can meet derives from :class:`PaystreamError`; the ``paystream`` command
prints it as one line and exits with code 2 (``-v`` adds the traceback). Errors that also
signal invalid values (money, contracts, schemas) derive from ``ValueError`` too, so pydantic
validators and callers that catch ``ValueError`` keep working.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# The setting that says where each service is, named in "not reachable" messages.
SERVICE_SETTINGS = {
    "Kafka": "PAYSTREAM_KAFKA__BOOTSTRAP_SERVERS",
    "MySQL": "PAYSTREAM_MYSQL__PRIMARY_URL / PAYSTREAM_MYSQL__REPLICA_URL",
    "MySQL primary": "PAYSTREAM_MYSQL__PRIMARY_URL",
    "MySQL replica": "PAYSTREAM_MYSQL__REPLICA_URL",
    "Redis": "PAYSTREAM_REDIS__URL",
    "Gremlin": "PAYSTREAM_GREMLIN__URL",
    "Gremlin Server": "PAYSTREAM_GREMLIN__URL",
    "MLflow": "PAYSTREAM_MLFLOW__TRACKING_URI",
    "API": "PAYSTREAM_API__HOST / PAYSTREAM_API__PORT",
    "Delta gold": "PAYSTREAM_LAKEHOUSE__ROOT",
    "SQL endpoint": "PAYSTREAM_SQL__HOST / PAYSTREAM_SQL__PORT",
}
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]", ""}


class PaystreamError(Exception):
    """Base of all paystream errors."""


class ConfigurationError(PaystreamError):
    """Settings are missing or invalid."""


def _on_loopback(where: str) -> bool:
    # The local process stack only ever listens on loopback, so a service expected there is
    # one `paystream stack up` starts; anywhere else (Event Hubs, Azure) it is not.
    text = where if "://" in where else f"//{where}"
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return False
    return host in _LOOPBACK or where.startswith(("the configured", "unix:"))


class ServiceUnavailableError(PaystreamError):
    """A backing service cannot be reached.

    The message names the service, where it was expected and the setting to check; for a
    service expected on loopback (the local stack) it also names `paystream stack up`.
    """

    def __init__(self, service: str, where: str, detail: str = "") -> None:
        self.service = service
        self.where = where
        extra = f" ({detail})" if detail else ""
        setting = SERVICE_SETTINGS.get(service)
        hint = f"check {setting}" if setting else "check its settings"
        if _on_loopback(where):
            hint += ", or start the local stack with `paystream stack up`"
        super().__init__(f"{service} is not reachable at {where}{extra}; {hint}")
