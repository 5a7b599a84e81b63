"""The ledger's change feed: totals after each committed batch, for the projections.

The ledger is the system of record and runs at its own pace; Redis and the graph are
projections in their own consumer groups. They read the domain topics for the facts (profiles,
sessions, windows, vertices and edges), but totals (Redis balances, ``PAID`` edges) must come
from the ledger, which alone counts each event once. So after each commit the ledger worker
publishes the totals the batch touched, as absolute values read inside its transaction, to
the ``ledger`` topic, and only then acknowledges the batch.

Records are keyed so that one customer's totals stay in order in one partition. A customer's
money events all come from one partition of the payments topic, so from one ledger worker at
a time; a batch's customers are therefore packed into one record per source partition, keyed
``p:<partition>``, which keeps every customer under one key (few records per batch: each costs
a producer round trip). Customers without a known source partition get their own ``c:<id>``
record. Merchant balances ride along in the first record; they reach the feed from many
ledger workers, which is why the Redis projection compares versions
(``captured_count + refund_count``) before it overwrites a total; pair totals only grow, and
each pair has a single writer.

A replayed or retried batch publishes the totals as they stand, never older ones.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping

from streams.sinks.port import LedgerSnapshot, PairTotals, Totals

VERSION = 1

Record = tuple[bytes, bytes]


def _totals(t: Totals) -> list[int]:
    return [t.captured_minor, t.captured_count, t.refunded_minor, t.refund_count]


def feed_records(
    snapshot: LedgerSnapshot, partitions: Mapping[str, int] | None = None
) -> list[Record]:
    """The snapshot as change-feed records.

    ``partitions`` maps a customer to the payments-topic partition its events came from; such
    customers share one record per partition, the rest get one record each.
    """
    known = partitions or {}

    def key(customer: str) -> str:
        return f"p:{known[customer]}" if customer in known else f"c:{customer}"

    groups: dict[str, dict[str, list[list[object]]]] = defaultdict(
        lambda: {"merchants": [], "customers": [], "pairs": []}
    )
    for (customer, currency), totals in sorted(snapshot.customers.items()):
        groups[key(customer)]["customers"].append([customer, currency, *_totals(totals)])
    for (customer, merchant, currency), pair in sorted(snapshot.pairs.items()):
        groups[key(customer)]["pairs"].append(
            [customer, merchant, currency, pair.payment_count, pair.amount_minor]
        )
    merchants = [
        [merchant, currency, *_totals(totals)]
        for (merchant, currency), totals in sorted(snapshot.merchants.items())
    ]
    if merchants:
        # Versioned on the reading side, so any record may carry them.
        first = min(groups) if groups else "m:"
        groups[first]["merchants"] = merchants
    return [
        (name.encode(), json.dumps({"v": VERSION, **parts}).encode())
        for name, parts in sorted(groups.items())
    ]


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
