"""The simulator's labelled payments as a foreign table: a risk team's CSV, not ours.

``paystream simulate --foreign-csv FILE`` writes one row per authorization with other column
names (those of the Fraud Detection Handbook's simulated data set), decimal amounts as text,
the card as an opaque id rather than a fingerprint, naive timestamps and a separate 0/1 fraud
column, plus ``FILE.mapping.yaml``, the column mapping that ``paystream import transactions``
reads it back with. The tests use it as "bring your own data".
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import IO, Any

import yaml

from ingest.simulator import generator as sim
from paystream.contracts.events import Event, PaymentAuthorized
from paystream.money import format_minor_units

COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "CURRENCY",
    "CARD_ID",
    "DEVICE_ID",
    "IP_COUNTRY",
    "TX_FRAUD",
)
#: The mapping that reads the file back (``paystream import transactions --mapping``).
MAPPING: dict[str, Any] = {
    "transaction_id": "TRANSACTION_ID",
    "timestamp": "TX_DATETIME",
    "timestamp_format": "%Y-%m-%d %H:%M:%S",
    "customer": "CUSTOMER_ID",
    "merchant": "TERMINAL_ID",
    "amount": "TX_AMOUNT",
    "currency": "CURRENCY",
    "card": "CARD_ID",
    "device": "DEVICE_ID",
    "country": "IP_COUNTRY",
    "fraud": "TX_FRAUD",
}


def mapping_path(path: Path) -> Path:
    """Where the mapping of ``path`` is written."""
    return path.with_name(path.name.removesuffix(".gz") + ".mapping.yaml")


class ForeignCsv:
    """Writes authorizations as rows; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._file: IO[str] | None = None
        self._writer: Any = None

    def __enter__(self) -> ForeignCsv:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.name.endswith(".gz"):
            self._file = gzip.open(self.path, "wt", newline="")
        else:
            self._file = self.path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._file is not None
        self._file.close()
        mapping_path(self.path).write_text(yaml.safe_dump(MAPPING, sort_keys=False))

    def add(self, event: Event, label: sim.FraudLabel | None) -> None:
        """Write ``event`` if it is an authorization (other events are not rows)."""
        if not isinstance(event, PaymentAuthorized):
            return
        card = event.card_fingerprint
        self._writer.writerow(
            (
                event.payment_id,
                event.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                event.customer_id,
                event.merchant_id,
                format_minor_units(event.amount.amount_minor, event.amount.currency),
                event.amount.currency,
                # An opaque id, as a bank's export would have: the import fingerprints it.
                "" if card is None else f"card-{card[:16]}",
                event.device_id or "",
                event.ip_country or "",
                1 if label is not None else 0,
            )
        )
        self.rows += 1
