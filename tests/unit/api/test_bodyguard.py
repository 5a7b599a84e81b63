"""Size and credentials are checked before a request body is read (no stores involved)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import TokenIssuer
from paystream.settings import load_settings

SECRETS = {
    "jwt_secret": "k3Jd9-qv7XzP0mWc2LbT8sYf4RgN1hAe6uKo5iQw",
    "key_pepper": "Zp8..xV3nM1bQ7cR4tY9wL2kJ6hG0fD5sA_eU",
}


@pytest.fixture(scope="module")
def client():
    settings = load_settings(api={**SECRETS, "max_body_bytes": 4096}, _env_file=None)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def token() -> str:
    return TokenIssuer(SECRETS["jwt_secret"]).issue("t", merchant_id="M1")


def test_malformed_json_without_credentials_is_401_not_422(client):
    res = client.post("/v1/payments", content=b"{not json", headers={"Idempotency-Key": "k"})
    assert res.status_code == 401
    assert res.headers["content-type"].startswith("application/problem+json")


def test_malformed_json_with_bad_credentials_is_401(client):
    res = client.post(
        "/v1/payments",
        content=b"{not json",
        headers={"Authorization": "Bearer a.b.c", "Idempotency-Key": "k"},
    )
    assert res.status_code == 401


def test_malformed_json_with_valid_credentials_reaches_validation(client):
    res = client.post(
        "/v1/payments",
        content=b"{not json",
        headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
    )
    assert res.status_code == 422


def test_a_declared_length_over_the_limit_is_413_even_without_credentials(client):
    res = client.post("/v1/payments", content=b"x" * 5000)
    assert res.status_code == 413
    assert "4,096" in res.json()["detail"]


def test_a_body_without_length_is_cut_off_at_the_limit(client):
    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    res = client.post(
        "/v1/payments", content=chunks(), headers={"Authorization": f"Bearer {token()}"}
    )
    assert res.status_code == 413


def test_reads_without_a_body_are_not_touched(client):
    assert client.get("/healthz").status_code == 200
