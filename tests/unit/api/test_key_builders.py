"""The API's own Redis keys (absent-key markers, rate-limit buckets, idempotency records)
keep their shape and slot whatever a caller puts in the id, like the kernel's keys."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.auth import KeyStore
from api.intake import IdempotencyStore
from api.ratelimit import RateLimiter
from paystream.contracts.keys import hash_tag
from tests.support.keyspace import any_ids, read_ids
from tests.unit.paystream.stores.test_redis_keys import BUILDERS, key_of

# Nothing here talks to Redis: the builders only need something to hold.
_REDIS: Any = SimpleNamespace(register_script=lambda body: None)
STORE = KeyStore(_REDIS, "ps", "pepper", ledger=None)  # type: ignore[arg-type]
LIMITER = RateLimiter(_REDIS, "ps", rate_per_s=1.0, burst=1)
IDEMPOTENCY = IdempotencyStore(_REDIS, "ps", ttl_s=60)
DIGEST = "0" * 32

API_BUILDERS = {
    "absent_key": (1, STORE._absent),
    "rate_limit_bucket": (1, LIMITER.bucket),
    # The Idempotency-Key itself is hashed into the key: only the merchant is an id in it.
    "idempotency": (1, lambda m: IDEMPOTENCY._key(m, "same-header")),
}


@given(st.sampled_from(sorted(API_BUILDERS)), any_ids)
def test_an_api_key_splits_into_its_layout_and_gives_its_id_back(name, value):
    arity, build = API_BUILDERS[name]
    key = build(value)
    if name == "idempotency":
        # Its last part is the hashed header, a fixed 32 hex characters.
        assert key.rsplit(":", 1)[1] == build("x").rsplit(":", 1)[1]
    assert read_ids(key, build, arity) == [value]
    assert hash_tag(key) is None, "an API key is hashed whole: no id may pick its slot"


@given(
    st.sampled_from(sorted(API_BUILDERS)), any_ids, st.sampled_from(sorted(API_BUILDERS)), any_ids
)
def test_distinct_ids_never_share_an_api_key(first, a, second, b):
    assert (API_BUILDERS[first][1](a) == API_BUILDERS[second][1](b)) == ((first, a) == (second, b))


@given(st.sampled_from(sorted(API_BUILDERS)), any_ids, st.sampled_from(sorted(BUILDERS)), st.data())
def test_no_api_key_is_ever_a_key_of_the_projection_or_served_results(name, value, other, data):
    ids = tuple(data.draw(any_ids) for _ in range(BUILDERS[other][0]))
    assert API_BUILDERS[name][1](value) != key_of((other, ids))


def test_a_jwt_subject_or_key_id_with_braces_cannot_pick_a_cluster_slot():
    # On main the subject "{victim}" hashed the bucket into the slot of "victim".
    assert hash_tag(LIMITER.bucket("jwt:{victim}")) is None
    assert hash_tag(STORE._absent("{victim}")) is None
    assert LIMITER.bucket("jwt:x}{y") == "ps:api:ratelimit:jwt%3Ax%7D%7By"
    assert LIMITER.bucket("0123abcd") == "ps:api:ratelimit:0123abcd"


def test_a_merchant_id_with_colons_keeps_its_idempotency_records_apart():
    assert IDEMPOTENCY._key("m:a", "k") != IDEMPOTENCY._key("m", "k")
    assert IDEMPOTENCY._key("M0001", "k").startswith("ps:api:idem:M0001:")
