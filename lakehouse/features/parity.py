"""Parity of offline features with the vectors the risk agent logged for the same payments.

The agent logs each decision's exact feature vector in the ledger (``risk_decisions``). For a
history imported through the live stream and also built offline
(``paystream features build``), every payment has both; they must be equal feature by
feature: counts exactly, means and rates within ``1e-9``. A mismatch share above zero means
the agent read state that was not yet, or no longer, what was true at the payment's time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text

from paystream.contracts.fraud_features import FEATURES
from paystream.settings import MySQLSettings
from paystream.stores.mysql import Database

TOLERANCE = 1e-9
_LOGGED = text(
    "SELECT payment_id, features FROM risk_decisions WHERE payment_id IN :ids"
).bindparams(bindparam("ids", expanding=True))
#: Payment ids per ledger query.
CHUNK = 5_000


@dataclass
class ParityReport:
    """Per feature, how many of the compared payments differ, with a few examples."""

    offline_rows: int = 0
    compared: int = 0
    mismatches: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FEATURES, 0))
    examples: dict[str, list[tuple[str, float | None, float | None]]] = field(default_factory=dict)

    @property
    def not_logged(self) -> int:
        """Offline payments the agent has not decided (yet)."""
        return self.offline_rows - self.compared

    def share(self, feature: str) -> float:
        """The share of compared payments whose ``feature`` differs."""
        return self.mismatches[feature] / self.compared if self.compared else 0.0

    @property
    def overall_share(self) -> float:
        """Differing (payment, feature) pairs over all compared pairs."""
        pairs = self.compared * len(FEATURES)
        return sum(self.mismatches.values()) / pairs if pairs else 0.0


def same(offline: float | None, logged: float | None) -> bool:
    """Whether two values of one feature agree (both missing, or equal within 1e-9)."""
    if offline is None or logged is None:
        return offline is None and logged is None
    return math.isclose(offline, logged, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def _value(raw: Any) -> float | None:
    if raw is None:
        return None
    value = float(raw)
    return None if math.isnan(value) else value


def compare(
    offline: Mapping[str, Mapping[str, Any]],
    logged: Mapping[str, Mapping[str, Any]],
    report: ParityReport,
    examples: int = 3,
) -> None:
    """Add the payments present in both ``offline`` and ``logged`` to ``report``."""
    for payment_id, vector in logged.items():
        row = offline.get(payment_id)
        if row is None:
            continue
        report.compared += 1
        for name in FEATURES:
            a, b = _value(row.get(name)), _value(vector.get(name))
            if not same(a, b):
                report.mismatches[name] += 1
                found = report.examples.setdefault(name, [])
                if len(found) < examples:
                    found.append((payment_id, a, b))


def feature_parity(features_path: str, mysql: MySQLSettings, prefix: str = "") -> ParityReport:
    """Compare the offline table at ``features_path`` with the ledger's logged vectors.

    ``prefix`` keeps only payments whose id starts with it (one imported copy of a history).
    """
    from deltalake import DeltaTable

    table = DeltaTable(features_path).to_pyarrow_table(columns=["payment_id", *FEATURES])
    rows = {
        str(row["payment_id"]): row
        for row in table.to_pylist()
        if str(row["payment_id"]).startswith(prefix)
    }
    report = ParityReport(offline_rows=len(rows))
    database = Database(mysql)
    ids = list(rows)
    try:
        with database.reader.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                result = conn.execute(_LOGGED, {"ids": ids[start : start + CHUNK]})
                logged = {str(pid): json.loads(vector) for pid, vector in result}
                compare(rows, logged, report)
    finally:
        database.dispose()
    return report
