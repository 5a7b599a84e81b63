"""Which store errors are worth waiting out, and the backoff that waits them out.

A store that restarts, a dropped connection, a deadlock or a lock wait clears up by itself:
those errors are *transient*, and the write (a sink's batch, the risk agent's scoring) is
retried with backoff until the store is back. Anything else is raised at once: the stream
workers bisect a batch that holds a poison record (``streams.poison``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from redis.exceptions import RedisError
from tenacity import (
    RetryCallState,
    before_sleep_log,
    retry,
    retry_if_exception,
    wait_exponential_jitter,
)

from paystream.errors import ServiceUnavailableError

log = logging.getLogger(__name__)

RETRIES = Counter("paystream_sink_retries_total", "Sink write retries", ["sink"])

# MySQL's duplicate-key error. On the claims table it means another worker is writing the
# same batch right now; its retry then finds the events processed (streams.sinks.ledger).
_DUPLICATE_KEY = 1062


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth waiting out (the same write may succeed later)."""
    if isinstance(exc, ServiceUnavailableError | RedisError | ConnectionError | TimeoutError):
        return True
    # An SQL error exists only once SQLAlchemy is loaded: a process that writes no SQL (the
    # risk agent) never loads it for this test.
    if "sqlalchemy.exc" in sys.modules:
        from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

        if isinstance(exc, DBAPIError):
            if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
                return True
            if isinstance(exc, IntegrityError):
                code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
                return code == _DUPLICATE_KEY and "processed_events" in str(exc.orig)
            return False
    return isinstance(exc, OSError)


def retrying(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Retry a store write on transient errors, forever, with capped exponential backoff.

    Each retry counts in ``paystream_sink_retries_total{sink=name}``.
    """
    warn = before_sleep_log(log, logging.WARNING)

    def before_sleep(state: RetryCallState) -> None:
        RETRIES.labels(name).inc()
        warn(state)

    return retry(
        # Errors worth waiting out only: a store restarting, a deadlock, a dropped
        # connection. A deterministic error is raised at once.
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(multiplier=0.2, max=15),
        before_sleep=before_sleep,
        reraise=True,
    )
