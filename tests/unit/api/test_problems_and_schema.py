"""Problem documents and the OpenAPI contract, without any backing service."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.app import create_app
from api.problems import PROBLEM_JSON, ApiProblem, install_problem_handlers
from paystream.errors import ServiceUnavailableError
from paystream.settings import load_settings


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
    schema = create_app(load_settings()).openapi()
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


def test_production_refuses_the_development_secrets():
    import pytest

    from paystream.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="jwt_secret"):
        create_app(load_settings(environment="production"))
