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
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping

from prometheus_client import Counter

from paystream.ledger.totals import Totals
from streams.sinks.port import LedgerSnapshot, PairTotals

log = logging.getLogger(__name__)
UNREADABLE = Counter(
    "paystream_change_feed_unreadable_total", "Change-feed records skipped as unreadable"
)

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


def _rows(value: bytes) -> dict[str, list[list[object]]]:
    body = json.loads(value)
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise ValueError("not a change-feed record of version 1")
    return {part: list(body[part]) for part in ("merchants", "customers", "pairs")}


def merge_records(values: Iterable[bytes]) -> LedgerSnapshot:
    """One snapshot from change-feed values: for each key, the newest totals.

    Records of one merchant can come from several partitions in any order, so the newest is
    chosen by version, not by position. A record that cannot be read is logged, counted and
    skipped: the next record of its key carries the totals again, and a projection that
    crashed on it would stop for good.
    """
    snapshot = LedgerSnapshot()
    for value in values:
        try:
            body = _rows(value)
            owners = [
                (target, str(o), str(c), Totals(int(cm), int(cc), int(rm), int(rc)))  # type: ignore[call-overload]
                for target, part in (
                    (snapshot.merchants, "merchants"),
                    (snapshot.customers, "customers"),
                )
                for o, c, cm, cc, rm, rc in body[part]
            ]
            pairs = [
                ((str(cu), str(m), str(c)), PairTotals(int(n), int(a)))  # type: ignore[call-overload]
                for cu, m, c, n, a in body["pairs"]
            ]
        except (ValueError, TypeError, KeyError) as exc:
            UNREADABLE.inc()
            log.warning("skipped an unreadable change-feed record: %s", exc)
            continue
        for target, owner, currency, totals in owners:
            if _newer(target.get((owner, currency)), totals):
                target[(owner, currency)] = totals
        for key, pair in pairs:
            old = snapshot.pairs.get(key)
            if old is None or pair.payment_count >= old.payment_count:
                snapshot.pairs[key] = pair
    return snapshot
