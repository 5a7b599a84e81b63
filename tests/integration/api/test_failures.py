"""A dependency that is down is a 503 naming it, never a 500 (and /readyz says which)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from compose.local.process import free_port
from harness.api_server import ServerThread

pytestmark = pytest.mark.integration


def _dead_port_url(url: str, port: int) -> str:
    head, _, tail = url.partition("@")
    _host, _, rest = tail.partition("/")
    return f"{head}@127.0.0.1:{port}/{rest}"


@pytest.fixture(scope="module")
def broken(api_world, tmp_path_factory):
    """The world's Redis and keys, but the replica, Kafka and the gold tables are gone."""
    s = api_world.settings
    dead = free_port()
    settings = s.model_copy(
        update={
            "mysql": s.mysql.model_copy(
                update={
                    "replica_url": SecretStr(
                        _dead_port_url(s.mysql.replica_url.get_secret_value(), dead)
                    )
                }
            ),
            "kafka": s.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{dead}"}),
            "lakehouse": s.lakehouse.model_copy(update={"root": tmp_path_factory.mktemp("empty")}),
        }
    )
    server = ServerThread(create_app(settings), free_port()).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def no_redis(api_world):
    s = api_world.settings
    settings = s.model_copy(
        update={
            "redis": s.redis.model_copy(
                update={"url": SecretStr(f"redis://127.0.0.1:{free_port()}/0")}
            )
        }
    )
    server = ServerThread(create_app(settings), free_port()).start()
    yield server.url
    server.stop()


def _service(res: httpx.Response) -> str:
    assert res.status_code == 503, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    return res.json()["service"]


def test_replica_kafka_and_gold_down_are_503s_naming_them(api_world, broken):
    headers = {"X-API-Key": api_world.keys["alpha"]}
    with httpx.Client(base_url=broken, headers=headers, timeout=30) as client:
        assert _service(client.get("/v1/payments/pay-C0-0")) == "MySQL replica"
        # Recommendations for a merchant key need the replica (who paid whom).
        assert _service(client.get("/v1/customers/C0/recommendations")) == "MySQL replica"
        posted = client.post(
            "/v1/payments",
            json={"customer_id": "C0", "amount": {"amount_minor": 1, "currency": "GBP"}},
            headers={"Idempotency-Key": f"down-{uuid.uuid4()}"},
        )
        assert _service(posted) == "Kafka"
        statements = client.get("/v1/merchants/M-alpha/statements")
        assert _service(statements) == "Delta gold table merchant_statements"
        # Served from Redis, which is up.
        assert client.get("/v1/payments/pay-C0-0/risk").status_code == 200
        ready = client.get("/readyz")
        status = client.get("/v1/status", headers={"X-API-Key": api_world.keys["analyst"]})
    # Anonymous readiness says only "not ready"; the names are for authenticated operators.
    assert ready.status_code == 503
    assert ready.json()["detail"] == "not ready" and "checks" not in ready.json()
    assert "MySQL" not in ready.text and "Kafka" not in ready.text
    assert status.status_code == 200, status.text
    checks = status.json()["checks"]
    assert status.json()["status"] == "not ready"
    assert checks["Redis"] == "ok"
    assert {k for k, v in checks.items() if v != "ok"} == {
        "MySQL replica",
        "Kafka",
        "Delta gold tables",
    }


def test_failed_intake_releases_the_idempotency_key(api_world, broken):
    key = f"retry-{uuid.uuid4()}"
    body = {"customer_id": "C0", "amount": {"amount_minor": 7, "currency": "GBP"}}
    with httpx.Client(base_url=broken, headers={"X-API-Key": api_world.keys["alpha"]}) as c:
        assert (
            c.post("/v1/payments", json=body, headers={"Idempotency-Key": key}).status_code == 503
        )
    # Retrying on a healthy API with the same key succeeds instead of replaying the failure.
    with api_world.client("alpha") as client:
        res = client.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
    assert res.status_code == 202, res.text


def test_redis_down_is_a_503_naming_redis(api_world, no_redis):
    headers = {"X-API-Key": api_world.keys["alpha"]}
    with httpx.Client(base_url=no_redis, headers=headers, timeout=30) as client:
        assert _service(client.get("/v1/merchants/M-alpha/statements")) == "Redis"
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "Redis" not in ready.text


def test_metrics_can_move_to_a_port_of_their_own(api_world):
    port = free_port()
    s = api_world.settings
    settings = s.model_copy(update={"api": s.api.model_copy(update={"metrics_port": port})})
    server = ServerThread(create_app(settings), free_port()).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200
        assert 'route="/healthz"' in scraped.text
    finally:
        server.stop()
