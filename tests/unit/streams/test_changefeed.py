"""The ledger's change feed: totals keyed for ordering, merged newest first."""

from paystream.ledger.totals import Totals
from streams.changefeed import feed_records, merge_records
from streams.sinks.port import LedgerSnapshot, PairTotals


def snapshot(count: int) -> LedgerSnapshot:
    return LedgerSnapshot(
        merchants={("m1", "HKD"): Totals(100 * count, count, 0, 0)},
        customers={("c1", "HKD"): Totals(100 * count, count, 0, 0)},
        pairs={("c1", "m1", "HKD"): PairTotals(count, 100 * count)},
    )


def test_a_snapshot_round_trips_through_the_feed():
    assert merge_records(v for _, v in feed_records(snapshot(3))) == snapshot(3)


def test_customers_of_a_known_partition_share_one_record_keyed_by_it():
    both = snapshot(1)
    both.customers[("c2", "HKD")] = Totals(5, 1, 0, 0)
    records = feed_records(both, {"c1": 3, "c2": 3})
    assert [k for k, _ in records] == [b"p:3"]
    assert merge_records(v for _, v in records) == both


def test_a_customer_without_a_known_partition_gets_its_own_key():
    assert [k for k, _ in feed_records(snapshot(1))] == [b"c:c1"]


def test_the_newest_totals_win_whatever_order_the_records_arrive_in():
    old, new = feed_records(snapshot(1)), feed_records(snapshot(2))
    for values in ([*old, *new], [*new, *old]):
        assert merge_records(v for _, v in values) == snapshot(2)


def test_an_empty_snapshot_publishes_nothing_and_merchants_alone_still_travel():
    assert feed_records(LedgerSnapshot()) == []
    merchants_only = LedgerSnapshot(merchants={("m1", "HKD"): Totals(1, 1, 0, 0)})
    assert merge_records(v for _, v in feed_records(merchants_only)) == merchants_only


def test_an_unreadable_record_is_skipped_and_the_rest_still_applies():
    good = [v for _, v in feed_records(snapshot(2))]
    bad = [
        b"not json",
        b'{"v": 9}',
        b'{"v": 1, "merchants": [["m1"]], "customers": [], "pairs": []}',
    ]
    assert merge_records([*bad, *good]) == snapshot(2)
