"""The graph sink's script and binding builders, without a server."""

import re
import uuid
from datetime import UTC, datetime

import pytest
from gremlin_python.statics import long

from paystream.contracts.events import (
    MerchantRegistered,
    OrderLine,
    OrderPlaced,
    PaymentAuthorized,
    SessionStarted,
)
from paystream.money import Money
from streams.sinks.graph import (
    EdgeUpsert,
    VertexUpsert,
    build_requests,
    edge_id,
    plan_batch,
    vertex_id,
)
from streams.sinks.port import Envelope, LedgerSnapshot, PairTotals

HOSTILE = "x'); g.V().drop(); ('"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CARD = "ab" * 16


def envelopes(*events):
    return [Envelope(e, f"paystream.{e.topic}", 0, i) for i, e in enumerate(events)]


def session(customer="c1", device="d1"):
    return SessionStarted(
        event_id=uuid.uuid4(),
        occurred_at=NOW,
        session_id=f"s-{uuid.uuid4().hex[:8]}",
        customer_id=customer,
        device_id=device,
        ip_country="HK",
        channel="ios",
    )


def authorized(customer="c1", merchant="m1", device="d1", card=CARD):
    return PaymentAuthorized(
        event_id=uuid.uuid4(),
        occurred_at=NOW,
        payment_id=f"p-{uuid.uuid4().hex[:8]}",
        customer_id=customer,
        merchant_id=merchant,
        amount=Money(amount_minor=1000, currency="HKD"),
        device_id=device,
        card_fingerprint=card,
    )


def order(order_id="o1", customer="c1", skus=("sku-1",), description="Mug"):
    lines = [
        OrderLine(line_no=n, sku=sku, description=description, quantity=2, unit_price_minor=150)
        for n, sku in enumerate(skus, start=1)
    ]
    return OrderPlaced(
        event_id=uuid.uuid4(),
        occurred_at=NOW,
        order_id=order_id,
        customer_id=customer,
        merchant_id="m1",
        lines=lines,
        total=Money(amount_minor=300 * len(lines), currency="HKD"),
    )


def hostile_batch():
    """Every user-controlled string hostile; ids bypass validation as a broken producer might."""
    return envelopes(
        SessionStarted.model_construct(
            event_id=uuid.uuid4(),
            event_type="session.started",
            occurred_at=NOW,
            session_id="s1",
            customer_id=HOSTILE,
            device_id=HOSTILE + "dev",
            ip_country="HK",
            channel="web",
        ),
        PaymentAuthorized.model_construct(
            event_id=uuid.uuid4(),
            event_type="payment.authorized",
            occurred_at=NOW,
            payment_id="p1",
            customer_id=HOSTILE,
            merchant_id=HOSTILE + "m",
            amount=Money(amount_minor=5, currency="HKD"),
            card_fingerprint=HOSTILE + "card",
            device_id=None,
        ),
        MerchantRegistered(
            event_id=uuid.uuid4(),
            occurred_at=NOW,
            merchant_id="m9",
            name=HOSTILE,
            category="retail",
            country=HOSTILE,
            settlement_currency="HKD",
        ),
        order(description=HOSTILE),
    )


def all_requests(plan, namespace, **limits):
    kwargs = {"partition_key": "pk", "namespace": namespace, **limits}
    return build_requests(plan.vertices, **kwargs) + build_requests(plan.edges, **kwargs)


def statements(script):
    return script.split(";\n")


def test_values_never_appear_in_script_text_only_in_bindings():
    snapshot = LedgerSnapshot(pairs={(HOSTILE, HOSTILE + "m", "HKD"): PairTotals(1, 5)})
    namespace = HOSTILE + ":"
    plan = plan_batch(hostile_batch(), snapshot, namespace)
    requests = all_requests(plan, namespace)
    assert requests
    bound = set()
    for script, bindings in requests:
        assert "x'" not in script and "drop" not in script and HOSTILE not in script
        bound.update(v for v in bindings.values() if isinstance(v, str))
    assert namespace in bound
    assert vertex_id(namespace, "customer", HOSTILE) in bound
    assert vertex_id(namespace, "card", HOSTILE + "card") in bound
    assert HOSTILE in bound  # merchant name, country and product description, verbatim


def test_every_add_v_sets_the_partition_key_to_the_vertex_id():
    plan = plan_batch(hostile_batch(), LedgerSnapshot(), "ns:")
    add_v = 0
    for script, bindings in build_requests(plan.vertices, partition_key="pk", namespace="ns:"):
        assert bindings["pkn"] == "pk"
        for text in statements(script):
            i = re.match(r"g\.V\(v(\d+)\)", text).group(1)
            assert f".property(id, v{i}).property(pkn, v{i})" in text
            assert ".property('ns', ns)" in text
            add_v += text.count("addV(")
    assert add_v == len(plan.vertices) > 0


def test_every_statement_is_an_idempotent_upsert_that_is_iterated():
    plan = plan_batch(
        hostile_batch(), LedgerSnapshot(pairs={("c1", "m1", "HKD"): PairTotals(1, 5)}), ""
    )
    for script, _ in all_requests(plan, ""):
        for text in statements(script):
            # Gremlin Server evaluates only the last statement unless each is iterated.
            assert text.endswith(".iterate()")
            assert ".fold().coalesce(unfold(), addV(" in text or ".coalesce(outE(" in text
            for banned in ("property(set", "match(", "{", "tx()", "inject("):
                assert banned not in text


def test_batching_splits_at_the_statement_maximum():
    rows = [VertexUpsert(f"customer:c{i}", "customer") for i in range(120)]
    requests = build_requests(
        rows, partition_key="pk", namespace="", max_statements=50, max_bindings=1000
    )
    assert [len(statements(s)) for s, _ in requests] == [50, 50, 20]
    # Binding names restart per request, so same-shape requests share one cached script.
    assert requests[0][0] == requests[1][0]
    assert set(requests[0][1]) == {"pkn", "ns"} | {f"v{i}" for i in range(50)}


def test_batching_splits_at_the_binding_maximum():
    rows = [
        EdgeUpsert(
            f"PAID:c{i}>m:HKD",
            "PAID",
            f"c{i}",
            "m",
            (("amount_minor", 1), ("count", 1), ("currency", "HKD")),
        )
        for i in range(7)
    ]
    requests = build_requests(rows, partition_key="pk", namespace="", max_bindings=16)
    assert all(len(b) <= 16 for _, b in requests)
    assert [len(statements(s)) for s, _ in requests] == [2, 2, 2, 1]  # 2 shared + 2 x 6
    with pytest.raises(ValueError, match="bindings"):
        build_requests(rows, partition_key="pk", namespace="", max_bindings=7)


def test_a_batch_is_deduplicated():
    batch = envelopes(
        session("c1", "d1"),
        session("c1", "d1"),
        authorized("c1", "m1", "d1"),
        authorized("c2", "m1", "d1"),
        order("o1", "c1", ("sku-1", "sku-2")),
        order("o2", "c1", ("sku-1",)),
    )
    plan = plan_batch(batch, LedgerSnapshot(), "n:")
    ids = [v.vid for v in plan.vertices]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(
        [
            "n:customer:c1",
            "n:customer:c2",
            "n:merchant:m1",
            "n:device:d1",
            f"n:card:{CARD}",
            "n:product:sku-1",
            "n:product:sku-2",
        ]
    )
    edges = {e.eid: e for e in plan.edges}
    assert len(edges) == len(plan.edges) == 6  # USED c1-d1, c1-card, c2-d1, c2-card, 2 BOUGHT
    bought = edges[edge_id("BOUGHT", "n:customer:c1", "n:product:sku-1")]
    assert bought.props == ()  # a pure fact: no per-order property, so it can be cached


def test_vertex_attributes_merge_and_leave_out_empty_values():
    registered = MerchantRegistered(
        event_id=uuid.uuid4(),
        occurred_at=NOW,
        merchant_id="m1",
        name="Tea House",
        category="food",
        country="Hong Kong",
        settlement_currency="HKD",
    )
    plan = plan_batch(
        envelopes(authorized(), registered, order(description="")), LedgerSnapshot(), ""
    )
    by_id = {v.vid: v for v in plan.vertices}
    assert by_id["merchant:m1"].props == (
        ("category", "food"),
        ("country", "Hong Kong"),
        ("name", "Tea House"),
    )
    assert by_id["product:sku-1"].props == ()
    for _, bindings in all_requests(plan, ""):
        assert None not in bindings.values()


def test_paid_edges_carry_the_absolute_ledger_totals_per_currency():
    big = 5_000_000_000  # beyond a 32-bit int
    snapshot = LedgerSnapshot(
        pairs={
            ("c1", "m1", "HKD"): PairTotals(payment_count=3, amount_minor=big),
            ("c1", "m1", "GBP"): PairTotals(payment_count=1, amount_minor=250),
            ("c2", "m1", "HKD"): PairTotals(payment_count=0, amount_minor=0),
        }
    )
    plan = plan_batch(envelopes(authorized()), snapshot, "")
    paid = {e.eid: e for e in plan.edges if e.label == "PAID"}
    hkd = edge_id("PAID", "customer:c1", "merchant:m1", "HKD")
    assert set(paid) == {hkd, edge_id("PAID", "customer:c1", "merchant:m1", "GBP")}
    assert paid[hkd].props == (("amount_minor", big), ("count", 3), ("currency", "HKD"))
    script, bindings = build_requests([paid[hkd]], partition_key="pk", namespace="")[0]
    numbers = [v for k, v in bindings.items() if k.startswith("a0_") and isinstance(v, int)]
    assert numbers == [big, 3] and all(isinstance(v, long) for v in numbers)
    assert "property('count', a0_1)" in script and "addE('PAID').to('d')" in script


def test_property_names_and_labels_are_checked_before_reaching_script_text():
    with pytest.raises(ValueError, match="plain identifier"):
        VertexUpsert("customer:c1", "customer", (("name') .drop() //", "x"),)).render(0)
    with pytest.raises(ValueError, match="label"):
        VertexUpsert("x", "customer').drop()//").render(0)
    with pytest.raises(ValueError, match="label"):
        EdgeUpsert("e", "KNOWS", "a", "b").render(0)


def test_vertices_and_property_less_edges_are_cacheable_but_paid_edges_are_not():
    from streams.sinks.graph_scripts import EdgeUpsert, VertexUpsert
    from streams.sinks.graph_scripts import cacheable as _cacheable

    assert _cacheable(VertexUpsert("c:1", "customer", (("country", "HK"),)))
    assert _cacheable(EdgeUpsert("e1", "BOUGHT", "c:1", "p:1"))
    assert not _cacheable(EdgeUpsert("e2", "PAID", "c:1", "m:1", (("count", 3),)))
