"""Reads: replica status, Redis decisions and recommendations, gold statements and history."""

from __future__ import annotations

import csv
import io

import pytest

pytestmark = pytest.mark.integration


def test_payment_status_is_read_from_the_replica(api_world):
    with api_world.client("alpha") as client:
        res = client.get("/v1/payments/pay-C0-0")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["merchant_id"] == "M-alpha"
    assert body["amount_minor"] == 1000 and body["currency"] == "GBP"
    assert body["status"] == "captured"


def test_api_holds_only_a_replica_engine(api_world):
    from sqlalchemy import Engine

    from paystream.stores.mysql import Database

    resources = api_world.app.state.resources
    engines = [v for v in vars(resources).values() if isinstance(v, Engine)]
    assert engines == [resources.reader]
    # The engine reaches the replica server (its port and server id), not the primary.
    replica = Database.identity(resources.reader)
    assert replica.port == api_world.settings.stack.mysql_replica_port
    assert replica.port != api_world.settings.stack.mysql_primary_port


def test_risk_decision_comes_from_redis(api_world):
    with api_world.client("alpha") as client:
        res = client.get("/v1/payments/pay-C0-0/risk")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["decision"] == "review"
    assert body["reasons"] == ["NEW_DEVICE", "HIGH_AMOUNT"]
    assert body["model_version"] == "3"


def test_recommendations_carry_the_model_version(api_world):
    with api_world.client("beta") as client:
        res = client.get("/v1/customers/C1/recommendations", params={"limit": 3})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["fallback"] is False
    assert body["model_version"] == "1"
    assert [i["item_id"] for i in body["items"]] == ["SKU0000", "SKU0001", "SKU0002"]


def test_recommended_items_carry_the_gold_catalogues_names_and_prices(api_world):
    from deltalake import DeltaTable

    table = DeltaTable(str(api_world.lakehouse / "gold" / "product_catalogue"))
    catalogue = {(r["merchant_id"], r["item"]): r for r in table.to_pyarrow_table().to_pylist()}
    with api_world.client("beta") as client:
        res = client.get("/v1/customers/C1/recommendations")
    assert res.status_code == 200, res.text
    items = res.json()["items"]
    named = [i for i in items if ("M-beta", i["item_id"]) in catalogue]
    assert named and len(named) < len(items), "the sample list has known and unknown items"
    for item in items:
        row = catalogue.get(("M-beta", item["item_id"]))
        if row is None:  # not in the catalogue: still served, with nulls
            assert item["name"] is None and item["unit_price"] is None
            continue
        assert item["name"] == row["name"]
        assert item["unit_price"] == {
            "amount_minor": row["unit_price_minor"],
            "currency": row["currency"],
        }
        assert isinstance(item["unit_price"]["amount_minor"], int)


def test_a_list_stored_before_items_had_names_serves_them_as_null(api_world):
    import json

    import redis

    from paystream.contracts.served import ServedKeys

    client = redis.Redis.from_url(api_world.settings.redis.url.get_secret_value())
    key = ServedKeys(api_world.settings.streams.namespace).recommendations("C5", "M-beta")
    kept = client.get(key)
    old = {
        "customer_id": "C5",
        "items": [{"item_id": "SKU0000", "score": 0.9, "source": "als"}],
        "model_name": "paystream-recommender",
        "model_version": "0",
        "generated_at": "2025-01-01T00:00:00Z",
    }
    try:
        client.set(key, json.dumps(old))
        with api_world.client("beta") as api:
            res = api.get("/v1/customers/C5/recommendations")
        assert res.status_code == 200, res.text
        assert res.json()["items"] == [
            {"item_id": "SKU0000", "score": 0.9, "source": "als", "name": None, "unit_price": None}
        ]
    finally:
        client.set(key, kept)
        client.close()


def test_cold_customer_gets_the_popular_list_marked_as_fallback(api_world):
    # C0 has no list of its own (see harness.sample_gold.served_commands).
    with api_world.client("alpha") as client:
        res = client.get("/v1/customers/C0/recommendations")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["fallback"] is True
    assert body["model_version"] == "popular-1"
    assert len(body["items"]) == 10


def test_statements_filter_by_range_and_granularity(api_world):
    with api_world.client("alpha") as client:
        res = client.get(
            "/v1/merchants/M-alpha/statements",
            params={"from": "2011-01-10", "to": "2011-01-19", "granularity": "day"},
        )
    assert res.status_code == 200, res.text
    periods = res.json()["periods"]
    assert [p["period_start"] for p in periods] == [f"2011-01-{d}" for d in range(10, 20)]
    assert all(p["merchant_id"] == "M-alpha" and p["granularity"] == "day" for p in periods)
    assert all(p["net_minor"] == p["gross_minor"] - p["refunds_minor"] for p in periods)


def test_monthly_statement_equals_the_sum_of_its_days(api_world):
    with api_world.client("alpha") as client:
        days = client.get(
            "/v1/merchants/M-alpha/statements",
            params={"from": "2011-01-01", "to": "2011-01-31", "granularity": "day"},
        ).json()["periods"]
        months = client.get(
            "/v1/merchants/M-alpha/statements",
            params={"from": "2011-01-01", "to": "2011-01-01", "granularity": "month"},
        ).json()["periods"]
    assert len(months) == 1
    assert months[0]["gross_minor"] == sum(d["gross_minor"] for d in days)


def test_statements_download_as_csv_by_accept_header_and_by_format(api_world):
    with api_world.client("alpha") as client:
        by_accept = client.get(
            "/v1/merchants/M-alpha/statements",
            params={"granularity": "month"},
            headers={"Accept": "text/csv"},
        )
        by_format = client.get(
            "/v1/merchants/M-alpha/statements", params={"granularity": "month", "format": "csv"}
        )
    for res in (by_accept, by_format):
        assert res.status_code == 200, res.text
        assert res.headers["content-type"].startswith("text/csv")
        assert "attachment" in res.headers["content-disposition"]
        table = list(csv.DictReader(io.StringIO(res.text)))
        assert {r["merchant_id"] for r in table} == {"M-alpha"}
        assert {r["period_start"] for r in table} == {"2011-01-01", "2011-02-01", "2011-03-01"}


def test_history_lists_only_the_callers_merchant(api_world):
    with api_world.client("alpha") as client:
        res = client.get("/v1/customers/C0/history")
        as_csv = client.get("/v1/customers/C0/history", params={"format": "csv"})
    assert res.status_code == 200, res.text
    payments = res.json()["payments"]
    assert payments and {p["merchant_id"] for p in payments} == {"M-alpha"}
    times = [p["authorized_at"] for p in payments]
    assert times == sorted(times, reverse=True)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(as_csv.text)))) == len(payments)


def test_health_and_readiness(api_world):
    with api_world.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready"}
        assert client.get("/v1/status").status_code == 401
    with api_world.client("analyst") as client:
        status = client.get("/v1/status")
        assert status.status_code == 200, status.text
        assert set(status.json()["checks"].values()) == {"ok"}
        metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert (
        'paystream_api_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text
    )


def test_recommendations_cost_one_redis_round_trip_and_429s_no_more(api_world, monkeypatch):
    from redis.asyncio.connection import AbstractConnection

    key = api_world.create_key(role="merchant", merchant_id="M-alpha", rate_per_s=0.1, burst=2)
    writes = []
    real_send = AbstractConnection.send_packed_command

    async def counting_send(self, command, check_health=True):
        writes.append(1)
        return await real_send(self, command, check_health)

    with api_world.client(raw_key=key) as client:
        # Warm: the key's record and the customer's membership are cached in the process.
        assert client.get("/v1/customers/C2/recommendations").status_code == 200
        monkeypatch.setattr(AbstractConnection, "send_packed_command", counting_send)
        ok = client.get("/v1/customers/C2/recommendations")
        served = len(writes)
        limited = client.get("/v1/customers/C2/recommendations")
        monkeypatch.undo()
    assert ok.status_code == 200 and ok.json()["items"]
    assert ok.headers["RateLimit-Remaining"] == "0"
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    # The rate limit and both lists in one pipeline; a refusal costs the same single trip.
    assert served == 1
    assert len(writes) == 2
