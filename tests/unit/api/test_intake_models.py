"""Payment request validation, card-number refusal, idempotency hashing, keys and tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import ValidationError

from api.auth import AUDIENCE, MAX_TOKEN_TTL, TokenIssuer, hash_key, split_key, validate_scope
from api.intake import body_hash
from api.routes.payments import PaymentRequest

GOOD = {
    "customer_id": "C1",
    "amount": {"amount_minor": 100, "currency": "GBP"},
    "card_fingerprint": "ab" * 16,
}


@pytest.mark.parametrize(
    "field", ["customer_id", "order_id", "booking_id", "device_id", "ip_country"]
)
@pytest.mark.parametrize("pan", ["4111111111111111", "4111-1111-1111-1111", "c-5500000000000004"])
def test_a_card_number_in_any_text_field_is_refused_naming_the_field(field, pan):
    value = pan.replace(" ", "-") if field != "ip_country" else pan.replace("-", " ")
    with pytest.raises(ValidationError, match="card number") as caught:
        PaymentRequest.model_validate({**GOOD, field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize("value", ["C17850", "dev-ios-42", "O536365", "United Kingdom"])
def test_ordinary_identifiers_pass(value):
    assert PaymentRequest.model_validate({**GOOD, "device_id": value.replace(" ", "-")})


def test_pan_in_the_fingerprint_field_is_refused_with_a_message_naming_it():
    with pytest.raises(ValidationError, match="card number"):
        PaymentRequest.model_validate({**GOOD, "card_fingerprint": "4111111111111111"})


def test_card_number_field_is_refused_before_any_other_check():
    with pytest.raises(ValidationError, match="card number"):
        PaymentRequest.model_validate({**GOOD, "pan": "4111111111111111"})


def test_fingerprint_must_be_lowercase_hex_of_32_to_64():
    with pytest.raises(ValidationError, match="32-64"):
        PaymentRequest.model_validate({**GOOD, "card_fingerprint": "XYZ" * 12})
    assert PaymentRequest.model_validate(GOOD).card_fingerprint == "ab" * 16


def test_money_must_be_integer_minor_units_of_a_known_currency():
    with pytest.raises(ValidationError):
        PaymentRequest.model_validate({**GOOD, "amount": {"amount_minor": 1.5, "currency": "GBP"}})
    with pytest.raises(ValidationError):
        PaymentRequest.model_validate({**GOOD, "amount": {"amount_minor": 1, "currency": "XXQ"}})


def test_body_hash_ignores_key_order_but_not_values():
    a = {"x": 1, "y": {"b": 2, "a": 1}}
    b = {"y": {"a": 1, "b": 2}, "x": 1}
    assert body_hash(a) == body_hash(b)
    assert body_hash(a) != body_hash({**a, "x": 2})


def test_key_hash_depends_on_the_pepper_and_split_reads_the_id():
    key = "psk_0123abcd_secret-part"
    assert split_key(key) == "0123abcd"
    assert split_key("not-a-key") is None and split_key("psk__x") is None
    assert hash_key("p1", key) != hash_key("p2", key)
    assert len(hash_key("p1", key)) == 64


def test_scopes_that_make_no_sense_are_refused():
    with pytest.raises(ValueError, match="--merchant"):
        validate_scope("merchant", None, None)
    with pytest.raises(ValueError, match="--customer needs --merchant"):
        validate_scope("analyst", None, "C1")
    with pytest.raises(ValueError, match="analyst"):
        validate_scope("analyst", "M1", None)


def test_jwt_round_trip_carries_the_scope_and_expiry_is_enforced():
    issuer = TokenIssuer("a-secret-that-is-long-enough-for-hs256")
    principal = issuer.verify(issuer.issue("app", merchant_id="M1", customer_id="C1"))
    assert principal is not None
    assert (principal.merchant_id, principal.customer_id) == ("M1", "C1")
    now = int(datetime.now(UTC).timestamp())
    expired = jwt.encode(_claims(iat=now - 60, exp=now - 5), issuer.secret, algorithm="HS256")
    assert issuer.verify(expired) is None
    assert (
        TokenIssuer("another-secret-that-is-long-enough!!").verify(
            issuer.issue("a", merchant_id="M1")
        )
        is None
    )


def _claims(**overrides):
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": "paystream",
        "aud": AUDIENCE,
        "jti": "j1",
        "sub": "s",
        "iat": now,
        "exp": now + 600,
        "role": "merchant",
        "merchant_id": "M1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


SECRET = "a-secret-that-is-long-enough-for-hs256"


def test_tokens_carry_an_audience_and_a_unique_id():
    issuer = TokenIssuer(SECRET)
    one, two = (
        jwt.decode(issuer.issue("s", merchant_id="M1"), options={"verify_signature": False})
        for _ in range(2)
    )
    assert one["aud"] == two["aud"] == AUDIENCE
    assert one["jti"] != two["jti"]


@pytest.mark.parametrize(
    "overrides",
    [{"aud": None}, {"aud": "another-service"}, {"jti": None}, {"iat": None}],
    ids=["no-aud", "wrong-aud", "no-jti", "no-iat"],
)
def test_a_token_without_our_audience_or_an_id_is_refused(overrides):
    token = jwt.encode(_claims(**overrides), SECRET, algorithm="HS256")
    assert TokenIssuer(SECRET).verify(token) is None
    assert TokenIssuer(SECRET).verify(jwt.encode(_claims(), SECRET, algorithm="HS256"))


def test_lifetimes_are_capped_at_a_day_on_the_way_out_and_in():
    issuer = TokenIssuer(SECRET)
    with pytest.raises(ValueError, match="at most"):
        issuer.issue("s", merchant_id="M1", ttl=MAX_TOKEN_TTL + timedelta(seconds=1))
    with pytest.raises(ValueError):
        issuer.issue("s", merchant_id="M1", ttl=timedelta(0))
    now = int(datetime.now(UTC).timestamp())
    year = jwt.encode(_claims(iat=now, exp=now + 365 * 86400), SECRET, algorithm="HS256")
    assert issuer.verify(year) is None


def test_a_zero_amount_payment_is_refused():
    with pytest.raises(ValidationError, match="at least 1"):
        PaymentRequest.model_validate({**GOOD, "amount": {"amount_minor": 0, "currency": "GBP"}})
    assert PaymentRequest.model_validate({**GOOD, "amount": {"amount_minor": 1, "currency": "JPY"}})
