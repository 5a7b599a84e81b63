"""Problem documents and the OpenAPI contract, without any backing service."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.app import create_app
from api.problems import PROBLEM_JSON, ApiProblem, install_problem_handlers
from paystream.errors import ConfigurationError, ServiceUnavailableError
from paystream.settings import REPO_ROOT, load_settings, secret_problem


class Body(BaseModel):
    card: int


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/down")
    def down() -> None:
        raise ServiceUnavailableError("Redis", "127.0.0.1:6379")

    @app.get("/teapot")
    def teapot() -> None:
        raise ApiProblem(429, "slow down", "rate-limited", {"Retry-After": "3"})

    @app.post("/body")
    def body(b: Body) -> None:
        return None

    @app.get("/redis")
    def redis_error() -> None:
        import redis.exceptions

        raise redis.exceptions.ConnectionError("refused")

    return app


def test_service_unavailable_is_a_503_problem_naming_the_service():
    res = TestClient(_app()).get("/down")
    assert res.status_code == 503
    assert res.headers["content-type"] == PROBLEM_JSON
    assert res.json()["service"] == "Redis"
    assert "paystream stack up" in res.json()["detail"]


def test_client_library_connection_errors_become_503_not_500():
    res = TestClient(_app()).get("/redis")
    assert res.status_code == 503 and res.json()["service"] == "Redis"


def test_validation_problem_lists_fields_but_never_echoes_input():
    res = TestClient(_app()).post("/body", json={"card": "4111111111111111x"})
    assert res.status_code == 422
    assert res.headers["content-type"] == PROBLEM_JSON
    assert res.json()["errors"][0]["location"] == "body.card"
    assert "4111" not in res.text


def test_api_problem_keeps_its_headers_and_unknown_routes_are_problems():
    client = TestClient(_app())
    res = client.get("/teapot")
    assert res.status_code == 429 and res.headers["retry-after"] == "3"
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM_JSON


def test_openapi_documents_problems_and_examples():
    schema = create_app(load_settings(api=STRONG, _env_file=None)).openapi()
    post = schema["paths"]["/v1/payments"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PaymentRequest"
    )
    assert schema["components"]["schemas"]["PaymentRequest"]["examples"]
    for path, item in schema["paths"].items():
        for method, op in item.items():
            for status, response in op.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    assert PROBLEM_JSON in response["content"], (path, method, status)
    params = {p["name"] for p in post["parameters"]}
    assert "Idempotency-Key" in params


STRONG = {
    "jwt_secret": "k3Jd9-qv7XzP0mWc2LbT8sYf4RgN1hAe6uKo5iQw",
    "key_pepper": "Zp8..xV3nM1bQ7cR4tY9wL2kJ6hG0fD5sA_eU",
}


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_no_environment_starts_without_secrets(environment):
    with pytest.raises(ConfigurationError, match="PAYSTREAM_API__JWT_SECRET"):
        create_app(load_settings(environment=environment, _env_file=None))


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("", "is not set"),
        ("x7Yq-short-secret", "shorter than 32 bytes"),
        ("paystream-dev-jwt-secret-change-me", "placeholder"),
        ("local-jwt-secret-not-for-production", "placeholder"),
        ("<generate: openssl rand -base64 48>", "placeholder"),
        ("a" * 64, "placeholder"),
    ],
)
def test_short_empty_and_placeholder_secrets_are_refused(secret, problem):
    settings = load_settings(api={**STRONG, "jwt_secret": secret}, _env_file=None)
    with pytest.raises(ConfigurationError, match=problem):
        create_app(settings)


def test_the_committed_secret_examples_do_not_pass():
    for example in (REPO_ROOT / "compose" / "k8s" / "overlays").glob("*/secrets.env.example"):
        for line in example.read_text().splitlines():
            if line.startswith(("PAYSTREAM_API__JWT_SECRET=", "PAYSTREAM_API__KEY_PEPPER=")):
                assert secret_problem(line.split("=", 1)[1]) is not None, (example, line)


def test_random_secrets_of_32_bytes_or_more_start_the_app():
    assert create_app(load_settings(api=STRONG, _env_file=None)).title == "paystream API"


def test_openapi_shows_each_recommended_items_name_and_price_in_minor_units():
    schema = create_app(load_settings(api=STRONG, _env_file=None)).openapi()
    components = schema["components"]["schemas"]
    ok = schema["paths"]["/v1/customers/{customer_id}/recommendations"]["get"]["responses"]["200"]
    out = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    item = components[components[out]["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert {"name", "unit_price"} <= set(item["properties"])
    assert {"name", "unit_price"}.isdisjoint(item.get("required", []))
    price = item["properties"]["unit_price"]["anyOf"]
    assert {"type": "null"} in price
    money = components[next(p["$ref"] for p in price if "$ref" in p).rsplit("/", 1)[1]]
    assert money["properties"]["amount_minor"]["type"] == "integer"
    assert set(money["required"]) == {"amount_minor", "currency"}
    example = components[out]["examples"][0]["items"]
    assert example[0]["unit_price"] == {"amount_minor": 295, "currency": "GBP"}
