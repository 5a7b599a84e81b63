"""The ledger's change feed: totals after each committed batch, for the projections.

The ledger is the system of record and runs at its own pace; Redis and the graph are
projections in their own consumer groups. They read the domain topics for the facts (profiles,
sessions, windows, vertices and edges), but totals (Redis balances, ``PAID`` edges) must come
from the ledger, which alone counts each event once. So after each commit the ledger worker
publishes the totals the batch touched, as absolute values read inside its transaction, to
the ``ledger`` topic, and only then acknowledges the batch.

Records are keyed so that one key's totals stay in order in one partition: a customer's
balance and pair totals by ``customer_id`` (a customer's money events all come from one
partition of the payments topic, so from one ledger worker at a time), a merchant's balance by
``merchant_id``. Merchant balances still reach a partition from many ledger workers, which is
why the Redis projection compares versions (``captured_count + refund_count``) before it
overwrites a total; pair totals only grow, and each pair has a single writer.

A replayed or retried batch publishes the totals as they stand, never older ones.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

from streams.sinks.port import LedgerSnapshot, PairTotals, Totals

VERSION = 1

Record = tuple[bytes, bytes]


def _totals(t: Totals) -> list[int]:
    return [t.captured_minor, t.captured_count, t.refunded_minor, t.refund_count]


def feed_records(snapshot: LedgerSnapshot) -> list[Record]:
    """The snapshot as change-feed records: one per customer, one per merchant."""
    customers: dict[str, dict[str, list[list[object]]]] = defaultdict(
        lambda: {"customers": [], "pairs": []}
    )
    for (customer, currency), totals in sorted(snapshot.customers.items()):
        customers[customer]["customers"].append([customer, currency, *_totals(totals)])
    for (customer, merchant, currency), pair in sorted(snapshot.pairs.items()):
        customers[customer]["pairs"].append(
            [customer, merchant, currency, pair.payment_count, pair.amount_minor]
        )
    records: list[Record] = []
    for customer, parts in sorted(customers.items()):
        body = {"v": VERSION, "merchants": [], **parts}
        records.append((f"c:{customer}".encode(), json.dumps(body).encode()))
    for (merchant, currency), totals in sorted(snapshot.merchants.items()):
        body = {
            "v": VERSION,
            "merchants": [[merchant, currency, *_totals(totals)]],
            "customers": [],
            "pairs": [],
        }
        records.append((f"m:{merchant}".encode(), json.dumps(body).encode()))
    return records


def _newer(old: Totals | None, new: Totals) -> bool:
    # Counts only grow, so their sum orders two copies of one balance (as in Redis).
    return old is None or (new.captured_count + new.refund_count) >= (
        old.captured_count + old.refund_count
    )


def merge_records(values: Iterable[bytes]) -> LedgerSnapshot:
    """One snapshot from change-feed values: for each key, the newest totals.

    Records of one merchant can come from several partitions in any order, so the newest is
    chosen by version, not by position.
    """
    snapshot = LedgerSnapshot()
    for value in values:
        body = json.loads(value)
        if body.get("v") != VERSION:
            raise ValueError(f"change-feed record of unknown version {body.get('v')!r}")
        for target, rows in (
            (snapshot.merchants, body["merchants"]),
            (snapshot.customers, body["customers"]),
        ):
            for owner, currency, cm, cc, rm, rc in rows:
                totals = Totals(cm, cc, rm, rc)
                if _newer(target.get((owner, currency)), totals):
                    target[(owner, currency)] = totals
        for customer, merchant, currency, count, amount in body["pairs"]:
            old = snapshot.pairs.get((customer, merchant, currency))
            if old is None or count >= old.payment_count:
                snapshot.pairs[(customer, merchant, currency)] = PairTotals(count, amount)
    return snapshot
