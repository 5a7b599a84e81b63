"""Auth, tenant isolation (404, never 403), rate limits and problem documents."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def _is_problem(res, status: int) -> dict:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith(PROBLEM)
    body = res.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


@pytest.mark.parametrize(
    "path",
    [
        "/v1/payments/pay-C1-0",  # C1's first payment is at M-beta
        "/v1/payments/pay-C1-0/risk",
        "/v1/merchants/M-beta/statements",
        "/v1/customers/C1/history",  # C1 has history at M-beta only
        "/v1/customers/C3/recommendations",  # C3 never paid M-alpha
    ],
)
def test_other_merchants_data_answers_404_like_a_missing_one(api_world, path):
    with api_world.client("alpha") as client:
        foreign = client.get(path)
        missing = client.get(
            path.replace("C1", "C999").replace("C3", "C999").replace("M-beta", "M-nope")
        )
    body = _is_problem(foreign, 404)
    _is_problem(missing, 404)
    assert "M-beta" not in body["detail"] or "no merchant" in body["detail"]
    # The same resources are visible to their owner.
    with api_world.client("beta") as client:
        assert client.get(path).status_code == 200


def test_customer_scoped_key_sees_only_its_customer(api_world):
    with api_world.client("alpha_c0") as client:
        assert client.get("/v1/customers/C0/recommendations").status_code == 200
        assert client.get("/v1/payments/pay-C0-0").status_code == 200
        _is_problem(client.get("/v1/customers/C5/recommendations"), 404)
        _is_problem(client.get("/v1/merchants/M-alpha/statements"), 404)
        # C2 pays M-alpha too, but this key is scoped to C0.
        _is_problem(client.get("/v1/payments/pay-C2-0"), 404)
        # Its own payment's risk decision is not for an app to see (a model-evasion oracle).
        _is_problem(client.get("/v1/payments/pay-C0-0/risk"), 403)


def test_missing_and_wrong_credentials_are_401_problems(api_world):
    with api_world.client() as client:
        body = _is_problem(client.get("/v1/merchants/M-alpha/statements"), 401)
        assert "API key" in body["detail"]
        _is_problem(
            client.get("/v1/merchants/M-alpha/statements", headers={"X-API-Key": "psk_x_y"}), 401
        )
        stolen = api_world.keys["alpha"][:-2] + "zz"
        _is_problem(
            client.get("/v1/merchants/M-alpha/statements", headers={"X-API-Key": stolen}), 401
        )


def test_bearer_api_key_and_jwt_are_accepted(api_world):
    from api.auth import TokenIssuer

    token = TokenIssuer(api_world.settings.api.require_secrets()[0]).issue(
        "backoffice", merchant_id="M-alpha"
    )
    forged = TokenIssuer("not-the-secret-but-long-enough-for-hs256!").issue(
        "backoffice", merchant_id="M-alpha"
    )
    with api_world.client() as client:
        for credential in (api_world.keys["alpha"], token):
            res = client.get(
                "/v1/merchants/M-alpha/statements",
                headers={"Authorization": f"Bearer {credential}"},
            )
            assert res.status_code == 200, res.text
        _is_problem(
            client.get(
                "/v1/merchants/M-alpha/statements", headers={"Authorization": f"Bearer {forged}"}
            ),
            401,
        )


def test_analyst_keys_cannot_read_merchant_data_and_merchants_cannot_read_dashboards(api_world):
    with api_world.client("analyst") as client:
        _is_problem(client.get("/v1/merchants/M-alpha/statements"), 403)
    with api_world.client("alpha") as client:
        _is_problem(client.get("/v1/dashboard/risk"), 403)


def test_rate_limit_answers_429_with_retry_after(api_world):
    key = api_world.create_key(role="merchant", merchant_id="M-alpha", rate_per_s=0.5, burst=3)
    with api_world.client(raw_key=key) as client:
        statuses = [client.get("/healthz").status_code for _ in range(2)]
        answers = [client.get("/v1/payments/pay-C0-0") for _ in range(5)]
    assert statuses == [200, 200]  # unauthenticated endpoints cost nothing
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    limited = answers[3]
    body = _is_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert "rate limit" in body["detail"]
    # Another key has its own bucket.
    with api_world.client("alpha") as client:
        assert client.get("/v1/payments/pay-C0-0").status_code == 200


def test_validation_errors_and_unknown_routes_are_problems(api_world):
    with api_world.client("alpha") as client:
        body = _is_problem(
            client.get("/v1/merchants/M-alpha/statements", params={"granularity": "week"}), 422
        )
        assert body["errors"][0]["location"] == "query.granularity"
        _is_problem(client.get("/v1/nothing-here"), 404)
        _is_problem(client.delete("/v1/payments/pay-C0-0"), 405)
        _is_problem(
            client.get(
                "/v1/merchants/M-alpha/statements",
                params={"from": "2011-02-01", "to": "2011-01-01"},
            ),
            422,
        )


def test_api_keys_survive_redis_losing_its_copy_of_them(api_world):
    import redis

    from api.auth import keys_hash_name

    key = api_world.create_key(role="merchant", merchant_id="M-alpha")
    client = redis.Redis.from_url(api_world.settings.redis.url.get_secret_value())
    try:
        # As after a Redis restart without persistence: the cached records are gone.
        client.delete(keys_hash_name(api_world.settings.streams.namespace))
    finally:
        client.close()
    with api_world.client(raw_key=key) as c:
        assert c.get("/v1/payments/pay-C0-0").status_code == 200


def test_a_revoked_key_is_refused_within_a_second_by_every_api_process(api_world):
    import asyncio
    import time

    from redis.asyncio import Redis

    from api.auth import KeyStore
    from api.keys import KeyLedger, admin_store
    from paystream.stores.mysql import Database

    async def go():
        client = Redis.from_url(api_world.settings.redis.url.get_secret_value())
        admin, admin_db = admin_store(api_world.settings, client)
        reader_db = Database(api_world.settings.mysql)
        pepper = api_world.settings.api.require_secrets()[1]
        ns = api_world.settings.streams.namespace
        # Two API processes, each with its own in-process cache.
        workers = [KeyStore(client, ns, pepper, KeyLedger(reader_db.reader)) for _ in range(2)]
        try:
            key_id, key = await admin.create("merchant", "M-alpha")
            assert all([await w.verify(key) for w in workers])
            await admin.revoke(key_id)
            revoked_at = time.monotonic()
            while any([await w.verify(key) for w in workers]):
                assert time.monotonic() - revoked_at < 1.2, "still accepted after 1.2 s"
                await asyncio.sleep(0.05)
            return time.monotonic() - revoked_at
        finally:
            admin_db.dispose()
            reader_db.dispose()
            await client.aclose()

    assert asyncio.run(go()) <= 1.2


def test_a_merchant_s_own_payment_for_another_s_customer_opens_only_its_own_lists(api_world):
    # M-alpha records a payment of C1, a customer of M-beta. C1 becomes M-alpha's customer
    # too, but the recommendations M-alpha reads are its own (here its popular list), never
    # the list learnt from C1's purchases at M-beta.
    import time
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, insert, text

    from paystream.ledger.models import Payment

    now = datetime.now(UTC).replace(tzinfo=None)
    row = {
        "payment_id": "pay-C1-at-alpha",
        "customer_id": "C1",
        "merchant_id": "M-alpha",
        "amount_minor": 500,
        "currency": "GBP",
        "status": "captured",
        "method": "card",
        "refunded_minor": 0,
        "authorized_at": now,
        "captured_at": now,
        "updated_at": now,
    }
    primary = create_engine(api_world.settings.mysql.primary_url.get_secret_value())
    replica = create_engine(api_world.settings.mysql.replica_url.get_secret_value())
    try:
        with primary.begin() as conn:
            conn.execute(insert(Payment.__table__), [row])
        deadline = time.monotonic() + 60
        query = text("SELECT 1 FROM payments WHERE payment_id = 'pay-C1-at-alpha'")
        while True:
            with replica.connect() as conn:
                if conn.execute(query).first() is not None:
                    break
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.2)
    finally:
        primary.dispose()
        replica.dispose()
    with api_world.client("alpha") as client:
        res = client.get("/v1/customers/C1/recommendations")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["fallback"] is True and body["model_version"] == "popular-1"
    with api_world.client("beta") as client:
        mine = client.get("/v1/customers/C1/recommendations").json()
    assert mine["fallback"] is False and mine["model_version"] == "1"
