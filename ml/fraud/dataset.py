"""Fraud training data: the risk agent's logged decisions joined with fraud labels.

Rows come from the ledger's ``risk_decisions`` on the READ REPLICA (training is a reader):
each carries the exact feature vector the stream scored, so the model learns from what
scoring saw (see :mod:`paystream.contracts.fraud_features`). Labels come, in order of
preference, from
1. a ground-truth JSON-lines file (``paystream simulate``'s ``labels-<seed>.jsonl``) when a
   path is given: every payment in it is fraud, every other decided payment is not;
2. the gold Delta table ``fraud_labels`` (read with delta-rs) when it exists: only payments
   present in gold are used, since gold lags the ledger and a missing row is not a "no";
3. the ledger itself: a payment is fraud when it has a ``fraud_chargeback`` refund.

Chargebacks arrive days after the payment, so the latest payments' ledger/gold labels are
immature (fraud not yet charged back reads as legitimate); the effect is the same for the
model and the rules baseline it is compared with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from paystream.contracts.fraud_features import FEATURES, to_matrix
from paystream.errors import PaystreamError, ServiceUnavailableError
from paystream.settings import LakehouseSettings, MySQLSettings
from paystream.stores.mysql import Database

FRAUD_REASON = "fraud_chargeback"
GOLD_TABLE = "fraud_labels"

DECISIONS_SQL = text(
    "SELECT payment_id, customer_id, card_fingerprint, rules_score, score, features, "
    "authorized_at, decided_at FROM risk_decisions ORDER BY authorized_at, payment_id"
)
CHARGEBACKS_SQL = text(
    "SELECT DISTINCT payment_id FROM refunds WHERE reason = :reason AND payment_id IS NOT NULL"
)


class DatasetError(PaystreamError):
    """There is no usable training data; the message says what to run."""


@dataclass(frozen=True)
class FraudDataset:
    """Decisions with labels, in ``authorized_at`` order.

    ``frame`` columns: payment_id, customer_id, card_fingerprint (nullable), card (the
    fingerprint, or ``customer:<id>`` for payments without a card, so Card Precision@k
    still counts them), authorized_at (UTC), rules_score, score (the logged live score),
    label (0/1). ``matrix`` holds the feature rows of ``frame`` in :data:`FEATURES` order.
    """

    frame: pd.DataFrame
    matrix: npt.NDArray[np.float64]
    data_version: str
    label_source: str

    @property
    def labels(self) -> npt.NDArray[np.int_]:
        """The 0/1 labels as an array."""
        labels: npt.NDArray[np.int_] = self.frame["label"].to_numpy(dtype=np.int_)
        return labels

    @property
    def times(self) -> list[datetime]:
        """``authorized_at`` of each row as UTC datetimes."""
        return list(self.frame["authorized_at"].dt.to_pydatetime())

    def with_labels(self, labels: npt.NDArray[np.int_], data_version: str) -> FraudDataset:
        """The same rows under other labels (e.g. shuffled, for a control experiment)."""
        frame = self.frame.assign(label=np.asarray(labels, dtype=np.int_))
        return FraudDataset(frame, self.matrix, data_version, f"{self.label_source}+relabelled")


def _utc(value: datetime) -> datetime:
    # MySQL DATETIME comes back naive; the ledger stores UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _read_decisions(db: Database) -> list[tuple[object, ...]]:
    url = db.reader.url
    try:
        with db.reader.connect() as conn:
            return [tuple(row) for row in conn.execute(DECISIONS_SQL)]
    except ProgrammingError as exc:
        raise DatasetError(
            f"the ledger at {url.host}:{url.port}/{url.database} has no risk_decisions "
            "table: run `paystream db upgrade`"
        ) from exc
    except OperationalError as exc:
        raise ServiceUnavailableError(
            "MySQL replica", f"{url.host}:{url.port}", str(exc.orig)[:120]
        ) from exc


def _ledger_labels(db: Database) -> set[str]:
    url = db.reader.url
    try:
        with db.reader.connect() as conn:
            rows = conn.execute(CHARGEBACKS_SQL, {"reason": FRAUD_REASON})
            return {str(row[0]) for row in rows}
    except OperationalError as exc:
        raise ServiceUnavailableError(
            "MySQL replica", f"{url.host}:{url.port}", str(exc.orig)[:120]
        ) from exc


def _file_labels(path: Path) -> set[str]:
    if not path.is_file():
        raise DatasetError(f"labels file {path} does not exist (see `paystream simulate`)")
    fraud: set[str] = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fraud.add(str(json.loads(line)["payment_id"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(
                f"{path}:{number}: not a fraud label line (JSON with payment_id)"
            ) from exc
    return fraud


def gold_labels_path(lakehouse: LakehouseSettings) -> Path:
    """Where the gold ``fraud_labels`` Delta table lives."""
    return lakehouse.root / "gold" / GOLD_TABLE


def _gold_labels(path: Path) -> tuple[set[str], set[str], int]:
    """(fraud payment ids, every labelled payment id, Delta table version)."""
    from deltalake import DeltaTable

    table = DeltaTable(str(path))
    data = table.to_pyarrow_table(columns=["payment_id", "label"]).to_pydict()
    labelled = {str(p) for p in data["payment_id"]}
    fraud = {str(p) for p, y in zip(data["payment_id"], data["label"], strict=True) if y == 1}
    return fraud, labelled, int(table.version())


def data_version(source: str, payment_ids: list[str], labels: list[int], latest: datetime) -> str:
    """A short, stable name of exactly these labelled rows.

    Row count, positives and the latest decision time say at a glance what changed; the
    hash of every (payment id, label) pair catches everything else.
    """
    digest = hashlib.sha256()
    for payment_id, label in sorted(zip(payment_ids, labels, strict=True)):
        digest.update(f"{payment_id}:{label}\n".encode())
    stamp = latest.strftime("%Y%m%dT%H%M%SZ")
    return f"{source}-n{len(labels)}-p{sum(labels)}-{stamp}-{digest.hexdigest()[:12]}"


def load_dataset(
    mysql: MySQLSettings,
    lakehouse: LakehouseSettings,
    labels_path: Path | None = None,
    *,
    label_source: Literal["auto", "ledger"] = "auto",
    payment_prefix: str = "",
) -> FraudDataset:
    """Decided payments with their labels, read from the ledger's replica.

    ``label_source="ledger"`` skips gold and reads the chargebacks the ledger holds now;
    ``payment_prefix`` keeps only payments whose id starts with it (one imported source).

    Raises:
        DatasetError: no decisions yet, or no positive label among them.
        ServiceUnavailableError: the replica cannot be reached.
    """
    db = Database(mysql)
    try:
        rows = [r for r in _read_decisions(db) if str(r[0]).startswith(payment_prefix)]
        if not rows:
            raise DatasetError(
                "there are no risk decisions in the ledger yet: run the risk agent "
                "(`paystream streams risk`) over some payments first"
            )
        gold = gold_labels_path(lakehouse)
        labelled: set[str] | None = None
        if labels_path is not None:
            fraud, source = _file_labels(labels_path), "file"
        elif label_source == "auto" and (gold / "_delta_log").is_dir():
            fraud, labelled, delta_version = _gold_labels(gold)
            source = f"gold_v{delta_version}"
        else:
            fraud, source = _ledger_labels(db), "ledger"
    finally:
        db.dispose()

    columns = [
        "payment_id",
        "customer_id",
        "card_fingerprint",
        "rules_score",
        "score",
        "features",
        "authorized_at",
        "decided_at",
    ]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    if labelled is not None:
        frame = frame[frame["payment_id"].isin(labelled)].reset_index(drop=True)
        if frame.empty:
            raise DatasetError(
                f"none of the decided payments is in gold {GOLD_TABLE} yet: rebuild gold "
                "from the ledger first"
            )
    frame["label"] = frame["payment_id"].isin(fraud).astype("int64")
    if not frame["label"].any():
        raise DatasetError(
            f"no decided payment is labelled fraud (label source: {source}); fraud labels "
            "come from fraud_chargeback refunds, which arrive days after the payment"
        )
    frame["authorized_at"] = pd.to_datetime([_utc(t) for t in frame["authorized_at"]], utc=True)
    latest = max(_utc(t) for t in frame["decided_at"])
    frame["card"] = [
        fp if fp else f"customer:{cid}"
        for fp, cid in zip(frame["card_fingerprint"], frame["customer_id"], strict=True)
    ]
    frame["rules_score"] = frame["rules_score"].astype("float64")
    frame["score"] = frame["score"].astype("float64")
    vectors = [json.loads(f) for f in frame["features"]]
    matrix = np.asarray(to_matrix(vectors), dtype=np.float64).reshape(len(vectors), len(FEATURES))
    version = data_version(
        source, list(frame["payment_id"]), [int(y) for y in frame["label"]], latest
    )
    frame = frame.drop(columns=["features", "decided_at"])
    return FraudDataset(frame, matrix, version, source)
