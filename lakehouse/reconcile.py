"""Gold against the ledger: merchant statements must equal ``balances`` to the minor unit.

Gold is read with delta-rs (no JVM) and the ledger through the read replica. For every
merchant and currency, the sum of ``merchant_statements`` over all periods of one granularity
must equal the merchant's captured and refunded totals and counts in ``balances``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import text

from paystream.settings import Settings

FIELDS = ("gross_minor", "payment_count", "refunds_minor", "refund_count")


@dataclass
class GoldReconciliation:
    """Per-currency totals from gold and the ledger, and every disagreement."""

    gold: dict[str, dict[str, int]] = field(default_factory=dict)
    ledger: dict[str, dict[str, int]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when gold equals the ledger for every merchant, currency and granularity."""
        return not self.mismatches


def ledger_merchant_totals(settings: Settings) -> dict[tuple[str, str], tuple[int, ...]]:
    """``(merchant, currency) → (captured, captured_count, refunded, refund_count)``."""
    from paystream.stores.mysql import Database

    database = Database(settings.mysql)
    try:
        Database.identity(database.reader)  # a clear error when the replica is down
        with database.reader.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT owner_id, currency, captured_minor, captured_count, "
                    "refunded_minor, refund_count FROM balances WHERE owner_kind = 'merchant'"
                )
            ).all()
    finally:
        database.dispose()
    return {(r[0], r[1]): tuple(int(v) for v in r[2:]) for r in rows}


def gold_merchant_totals(root: str, granularity: str) -> dict[tuple[str, str], tuple[int, ...]]:
    """Sums of ``merchant_statements`` over every period of one granularity."""
    from deltalake import DeltaTable

    table = DeltaTable(f"{root}/gold/merchant_statements")
    rows = table.to_pyarrow_table(
        filters=[("granularity", "=", granularity)],
        columns=["merchant_id", "currency", *FIELDS],
    ).to_pylist()
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        entry = sums[(row["merchant_id"], row["currency"])]
        for i, name in enumerate(FIELDS):
            entry[i] += int(row[name])
    return {k: tuple(v) for k, v in sums.items()}


def reconcile_gold(settings: Settings) -> GoldReconciliation:
    """Compare gold merchant statements with the ledger's merchant balances."""
    root = str(settings.lakehouse.root).rstrip("/")
    ledger = ledger_merchant_totals(settings)
    result = GoldReconciliation()
    for key, values in ledger.items():
        per = result.ledger.setdefault(key[1], dict.fromkeys(FIELDS, 0))
        for name, value in zip(FIELDS, values, strict=True):
            per[name] += value
    for granularity in ("day", "month"):
        gold = gold_merchant_totals(root, granularity)
        for key in sorted(set(gold) | set(ledger)):
            zero = (0, 0, 0, 0)
            # Ledger columns are (captured, count, refunded, count): the gold FIELDS order.
            if gold.get(key, zero) != ledger.get(key, zero):
                result.mismatches.append(
                    f"{granularity} {key[0]} {key[1]}: gold {gold.get(key, zero)} "
                    f"!= ledger {ledger.get(key, zero)}"
                )
        if granularity == "day":
            for key, values in gold.items():
                per = result.gold.setdefault(key[1], dict.fromkeys(FIELDS, 0))
                for name, value in zip(FIELDS, values, strict=True):
                    per[name] += value
    return result
