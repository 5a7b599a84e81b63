"""The graph projection against the real Gremlin Server, each test in its own namespace."""

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from gremlin_python.driver.client import Client
from gremlin_python.driver.serializer import GraphSONSerializersV2d0

from paystream.contracts.events import (
    MerchantRegistered,
    OrderLine,
    OrderPlaced,
    PaymentAuthorized,
    SessionStarted,
)
from paystream.errors import ServiceUnavailableError
from paystream.money import Money
from paystream.settings import GremlinSettings
from streams.sinks.graph import GremlinGraphSink, vertex_id
from streams.sinks.port import Envelope, LedgerSnapshot, PairTotals

HOSTILE = "x'); g.V().drop(); ('"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def card(n):
    return f"{n:032x}"


def envelopes(events):
    return [Envelope(e, f"paystream.{e.topic}", 0, i) for i, e in enumerate(events)]


def authorized(customer, merchant, device=None, fingerprint=None, amount=1000):
    return PaymentAuthorized(
        event_id=uuid.uuid4(),
        occurred_at=NOW,
        payment_id=f"p-{uuid.uuid4().hex[:8]}",
        customer_id=customer,
        merchant_id=merchant,
        amount=Money(amount_minor=amount, currency="HKD"),
        device_id=device,
        card_fingerprint=fingerprint,
    )


def session(customer, device):
    return SessionStarted(
        event_id=uuid.uuid4(),
        occurred_at=NOW,
        session_id=f"s-{uuid.uuid4().hex[:8]}",
        customer_id=customer,
        device_id=device,
        ip_country="HK",
        channel="android",
    )


def order(customer, skus, description="Mug"):
    lines = [
        OrderLine(line_no=n, sku=sku, description=description, quantity=1, unit_price_minor=500)
        for n, sku in enumerate(skus, start=1)
    ]
    return OrderPlaced(
        event_id=uuid.uuid4(),
        occurred_at=NOW,
        order_id=f"o-{uuid.uuid4().hex[:8]}",
        customer_id=customer,
        merchant_id="m1",
        lines=lines,
        total=Money(amount_minor=500 * len(lines), currency="HKD"),
    )


def make_sink(settings, namespace, **overrides):
    return GremlinGraphSink(settings.gremlin.model_copy(update=overrides), namespace=namespace)


@pytest.fixture
def namespace(unique):
    return f"{unique}:"


@pytest.fixture
def raw(stack, settings):
    client = Client(settings.gremlin.url, "g", message_serializer=GraphSONSerializersV2d0())
    yield lambda script, **bindings: client.submit(script, bindings).all().result(timeout=15)
    client.close()


# Both dialects run every sink test against the local server, so the Cosmos scripts stay
# verified although CI has no Cosmos DB.
DIALECTS = {"tinkerpop": "graphbinary", "cosmos": "graphson2"}


@pytest.fixture(params=list(DIALECTS))
def sink(request, stack, settings, namespace):
    graph = make_sink(
        settings, namespace, dialect=request.param, serializer=DIALECTS[request.param]
    )
    yield graph
    graph.purge_namespace()
    assert graph.counts() == {}
    graph.close()


def standard_batch():
    events = [
        MerchantRegistered(
            event_id=uuid.uuid4(),
            occurred_at=NOW,
            merchant_id="m1",
            name="Tea House",
            category="food",
            country="Hong Kong",
            settlement_currency="HKD",
        ),
        session("c1", "d1"),
        authorized("c1", "m1", "d1", card(1)),
        authorized("c2", "m1", "d2", card(1)),
        authorized("c1", "m2", "d1", card(2), amount=3_000_000_000),
        order("c1", ["sku-1", "sku-2"]),
    ]
    snapshot = LedgerSnapshot(
        pairs={
            ("c1", "m1", "HKD"): PairTotals(payment_count=1, amount_minor=1000),
            ("c2", "m1", "HKD"): PairTotals(payment_count=1, amount_minor=1000),
            ("c1", "m2", "HKD"): PairTotals(payment_count=1, amount_minor=3_000_000_000),
        }
    )
    return envelopes(events), snapshot


EXPECTED_COUNTS = {
    "customer": 2,
    "merchant": 2,
    "device": 2,
    "card": 2,
    "product": 2,
    "PAID": 3,
    "USED": 5,  # c1-d1 (session and payment, once), c1-card1, c1-card2, c2-d2, c2-card1
    "BOUGHT": 2,
}


def test_replaying_a_batch_leaves_identical_counts_and_paid_properties(sink):
    batch, snapshot = standard_batch()
    sink.apply(batch, snapshot)
    first = sink.counts()
    paid_first = sink.paid_edge("c1", "m2", "HKD")
    sink.apply(batch, snapshot)
    assert sink.counts() == first == EXPECTED_COUNTS
    assert sink.paid_edge("c1", "m2", "HKD") == paid_first == PairTotals(1, 3_000_000_000)
    assert sink.paid_edge("c1", "m1", "HKD") == PairTotals(1, 1000)
    assert sink.paid_edge("c1", "m1", "GBP") is None
    assert sink.paid_edge("c9", "m1", "HKD") is None


def test_a_later_snapshot_sets_paid_to_its_new_absolute_totals(sink):
    batch, snapshot = standard_batch()
    sink.apply(batch, snapshot)
    later = LedgerSnapshot(
        pairs={("c1", "m1", "HKD"): PairTotals(payment_count=4, amount_minor=7250)}
    )
    sink.apply(envelopes([authorized("c1", "m1", "d1", card(1), amount=6250)]), later)
    sink.apply(envelopes([authorized("c1", "m1", "d1", card(1), amount=6250)]), later)
    assert sink.paid_edge("c1", "m1", "HKD") == PairTotals(payment_count=4, amount_minor=7250)
    assert sink.paid_edge("c2", "m1", "HKD") == PairTotals(1, 1000)  # untouched
    assert sink.counts() == EXPECTED_COUNTS


def test_customers_sharing_a_device_or_card_are_counted_once_each(sink):
    events = [session(f"ring-{n}", "shared-dev") for n in range(3)]
    events += [authorized(f"ring-{n}", "m1", "shared-dev", card(7)) for n in range(3)]
    events += [authorized("ring-0", "m1", "shared-dev", card(7)), session("loner", "own-dev")]
    sink.apply(envelopes(events), LedgerSnapshot())
    assert sink.customers_sharing("device", "shared-dev") == 3
    assert sink.customers_sharing("card", card(7)) == 3
    assert sink.customers_sharing("device", "own-dev") == 1
    assert sink.customers_sharing("device", "never-seen") == 0


def test_hostile_strings_are_stored_verbatim(sink, raw, settings, namespace):
    customer, device = HOSTILE, HOSTILE + "-dev"
    events = [
        SessionStarted.model_construct(
            event_id=uuid.uuid4(),
            event_type="session.started",
            occurred_at=NOW,
            session_id="s1",
            customer_id=customer,
            device_id=device,
            ip_country="HK",
            channel="web",
        ),
        order("c1", ["sku-h"], description=HOSTILE),
    ]
    snapshot = LedgerSnapshot(pairs={(customer, "m1", "HKD"): PairTotals(2, 99)})
    sink.apply(envelopes(events), snapshot)
    assert sink.customers_sharing("device", device) == 1
    assert sink.paid_edge(customer, "m1", "HKD") == PairTotals(2, 99)
    pk = settings.gremlin.partition_key
    product = vertex_id(namespace, "product", "sku-h")
    names = raw("g.V(vid).has(pkn, vid).values('name')", vid=product, pkn=pk)
    assert names == [HOSTILE]
    hostile_id = vertex_id(namespace, "customer", customer)
    assert raw("g.V(vid).has(pkn, vid).id()", vid=hostile_id, pkn=pk) == [hostile_id]
    assert sink.counts() == {
        "customer": 2,
        "merchant": 1,
        "device": 1,
        "product": 1,
        "USED": 1,
        "BOUGHT": 1,
        "PAID": 1,
    }


def test_every_vertex_carries_the_partition_key_equal_to_its_id(sink, raw, settings, namespace):
    batch, snapshot = standard_batch()
    sink.apply(batch, snapshot)
    pk = settings.gremlin.partition_key
    missing = raw("g.V().has('ns', ns).not(has(pkn)).count()", ns=namespace, pkn=pk)
    assert missing == [0]
    rows = raw(
        "g.V().has('ns', ns).project('id', 'pk').by(id).by(values(pkn))", ns=namespace, pkn=pk
    )
    assert len(rows) == 10 and all(row["id"] == row["pk"] for row in rows)
    edges_in_ns = raw("g.E().has('ns', ns).count()", ns=namespace)
    assert edges_in_ns == [sum(EXPECTED_COUNTS[k] for k in ("PAID", "USED", "BOUGHT"))]


def test_apply_runs_in_a_worker_thread_while_the_main_thread_runs_a_loop(sink):
    batch, snapshot = standard_batch()
    threads = []

    def apply_and_note(*args):
        threads.append(threading.current_thread())
        sink.apply(*args)

    asyncio.run(asyncio.to_thread(apply_and_note, batch, snapshot))
    assert threads[0] is not threading.main_thread()

    async def inside_a_running_loop():
        # A blocking call straight from a coroutine: the driver must not touch this loop.
        sink.apply(envelopes([session("c3", "d1")]), LedgerSnapshot())
        return sink.customers_sharing("device", "d1")

    assert asyncio.run(inside_a_running_loop()) == 2
    assert sink.counts()["customer"] == 3


def test_a_sink_built_and_closed_inside_a_loop_works(stack, settings, namespace):
    async def main():
        graph = make_sink(settings, namespace)
        try:
            await asyncio.to_thread(graph.apply, envelopes([session("c1", "d1")]), LedgerSnapshot())
            return graph.counts()
        finally:
            graph.purge_namespace()
            graph.close()

    assert asyncio.run(main()) == {"customer": 1, "device": 1, "USED": 1}


@pytest.mark.parametrize(
    ("dialect", "serializer"),
    [("cosmos", "graphson2"), ("tinkerpop", "graphbinary")],
)
def test_every_configured_serializer_round_trips(stack, settings, namespace, dialect, serializer):
    graph = make_sink(settings, namespace, dialect=dialect, serializer=serializer)
    try:
        batch, snapshot = standard_batch()
        graph.apply(batch, snapshot)
        assert graph.counts() == EXPECTED_COUNTS
        assert graph.paid_edge("c1", "m2", "HKD") == PairTotals(1, 3_000_000_000)
        assert graph.customers_sharing("card", card(1)) == 2
    finally:
        graph.purge_namespace()
        graph.close()


def test_an_unreachable_server_raises_service_unavailable_and_does_not_hang(namespace):
    graph = GremlinGraphSink(
        GremlinSettings(url="ws://127.0.0.1:1/gremlin"), namespace, timeout_s=5
    )
    try:
        started = time.monotonic()
        for _ in range(3):  # a failed connect must not leak the driver's pooled connection
            with pytest.raises(ServiceUnavailableError, match="Gremlin is not reachable"):
                graph.apply(envelopes([session("c1", "d1")]), LedgerSnapshot())
        assert time.monotonic() - started < 15
    finally:
        graph.close()


def test_large_batches_are_split_into_many_requests(sink):
    events = [authorized(f"c{n}", f"m{n % 7}", f"d{n % 50}", card(n % 60)) for n in range(300)]
    pairs = {(f"c{n}", f"m{n % 7}", "HKD"): PairTotals(1, 1000) for n in range(300)}
    sink.apply(envelopes(events), LedgerSnapshot(pairs=pairs))
    assert sink.counts() == {
        "customer": 300,
        "merchant": 7,
        "device": 50,
        "card": 60,
        "PAID": 300,
        "USED": 600,
    }


def _graph_dump(raw, namespace):
    # Every element of a namespace with its properties, ids and labels, the namespace cut off.
    def strip(value):
        return value.replace(namespace, "<ns>") if isinstance(value, str) else value

    vertices = raw(
        "g.V().has('ns', ns).project('id', 'label', 'props').by(id()).by(label()).by(valueMap())",
        ns=namespace,
    )
    edges = raw(
        "g.E().has('ns', ns).project('id', 'label', 'out', 'in', 'props')"
        ".by(id()).by(label()).by(outV().id()).by(inV().id()).by(valueMap())",
        ns=namespace,
    )
    rows = []
    for row in vertices + edges:
        props = {k: strip(v[0] if isinstance(v, list) else v) for k, v in row["props"].items()}
        rows.append(
            (
                row["label"],
                strip(row["id"]),
                strip(row.get("out")),
                strip(row.get("in")),
                sorted(props.items()),
            )
        )
    return sorted(rows, key=repr)


def test_both_dialects_leave_the_same_graph(stack, settings, raw, unique):
    dumps = []
    for dialect, serializer in DIALECTS.items():
        namespace = f"{unique}-{dialect}:"
        graph = make_sink(settings, namespace, dialect=dialect, serializer=serializer)
        try:
            batch, snapshot = standard_batch()
            graph.apply(batch, snapshot)
            # A replay and a later snapshot: the second PAID total must replace the first.
            graph.apply(batch, snapshot)
            later = {("c1", "m1", "HKD"): PairTotals(payment_count=2, amount_minor=2500)}
            graph.apply(envelopes([session("c3", "d1")]), LedgerSnapshot(pairs=later))
            dumps.append(_graph_dump(raw, namespace))
        finally:
            graph.purge_namespace()
            graph.close()
    assert dumps[0] == dumps[1]
    assert any(row[0] == "PAID" and ("count", 2) in row[4] for row in dumps[0])
