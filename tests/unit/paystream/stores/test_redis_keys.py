"""Every Redis key of the projection and of served results keeps its shape and its slot,
whatever ids it is built from: ids are encoded (paystream.contracts.keys)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paystream.contracts.keys import hash_tag
from paystream.contracts.served import ServedKeys
from paystream.stores.redis import RedisKeys
from tests.support.keyspace import any_ids, expected_tag, identifiers, read_ids

KEYS = RedisKeys("ps")
SERVED = ServedKeys("ps")

#: Every builder of a key that holds ids, with its number of ids, kinds spelt out.
BUILDERS = {
    "session": (1, KEYS.session),
    "profile[customer]": (1, lambda i: KEYS.profile("customer", i)),
    "profile[merchant]": (1, lambda i: KEYS.profile("merchant", i)),
    "totals[customer]": (1, lambda i: KEYS.totals("customer", i)),
    "totals[merchant]": (1, lambda i: KEYS.totals("merchant", i)),
    **{
        f"window[{k}]": (1, lambda i, k=k: KEYS.window(k, i))
        for k in ("customer", "card", "device")
    },
    **{
        f"window[{k}]@merchant": (2, lambda i, m, k=k: KEYS.window(k, i, m))
        for k in ("customer", "card", "device")
    },
    "days": (1, KEYS.days),
    "days@merchant": (2, KEYS.days),
    "merchant_payments": (1, KEYS.merchant_payments),
    "merchant_frauds": (1, KEYS.merchant_frauds),
    "merchant_refunds": (1, KEYS.merchant_refunds),
    "seen[device]": (1, lambda i: KEYS.seen(i, "device")),
    "seen[country]": (1, lambda i: KEYS.seen(i, "country")),
    "links": (1, KEYS.links),
    "fraud": (1, KEYS.fraud),
    **{f"users[{k}]": (1, lambda i, k=k: KEYS.users(k, i)) for k in ("card", "device")},
    **{f"flagged[{k}]": (1, lambda i, k=k: KEYS.flagged(k, i)) for k in ("card", "device")},
    "decision": (1, SERVED.decision),
    "recommendations": (2, SERVED.recommendations),
    "popular": (1, SERVED.popular),
}
#: Keys without ids: they must differ from every key built from ids.
FIXED = [KEYS.graph_mark, KEYS.progress]


def calls(ids: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, tuple[str, ...]]]:
    """A builder and ids for it."""
    return st.sampled_from(sorted(BUILDERS)).flatmap(
        lambda name: st.tuples(st.just(name), st.tuples(*[ids] * BUILDERS[name][0]))
    )


def key_of(call: tuple[str, tuple[str, ...]]) -> str:
    _, build = BUILDERS[call[0]]
    return build(*call[1])


@given(calls(any_ids))
def test_a_key_splits_into_its_layout_and_gives_its_ids_back(call):
    name, ids = call
    arity, build = BUILDERS[name]
    assert read_ids(build(*ids), build, arity) == list(ids)


@given(calls(any_ids))
def test_the_hash_tag_covers_exactly_the_entity_and_nothing_an_id_adds(call):
    name, ids = call
    arity, build = BUILDERS[name]
    key = build(*ids)
    assert hash_tag(key) == expected_tag(build, arity, ids)
    if "{" not in build(*["x"] * arity):
        # A key without a tag of its own is hashed whole: no id may give it one.
        assert "{" not in key and "}" not in key


@given(calls(identifiers), calls(identifiers))
def test_distinct_accepted_ids_never_share_a_key_across_all_builders(first, second):
    assert (key_of(first) == key_of(second)) == (first == second)
    assert key_of(first) not in FIXED


@given(calls(any_ids), calls(any_ids))
def test_distinct_ids_of_any_text_never_share_a_key(first, second):
    assert (key_of(first) == key_of(second)) == (first == second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # The same key on main: merchant m's list for customer b:customer:a was merchant
        # m:customer:b's list for customer a.
        (("recommendations", ("b:customer:a", "m")), ("recommendations", ("a", "m:customer:b"))),
        (("recommendations", ("x:popular", "m")), ("popular", ("m:customer:x",))),
        (("recommendations", ("x:popular", "a:reco:b")), ("popular", ("a:reco:b:customer:x",))),
    ],
)
def test_ids_with_colons_that_named_one_key_on_main_name_two(first, second):
    assert (key_of(first) == key_of(second)) == (first == second)


def test_an_entity_id_with_braces_stays_inside_its_own_hash_tag():
    # On main the tag of customer "a}b" was "customer:a": customer a's slot.
    key = KEYS.window("customer", "a}b")
    assert hash_tag(key) == "customer:a%7Db"
    assert hash_tag(KEYS.session("{customer:a}")) is None


def test_ids_without_colons_keep_the_keys_main_wrote():
    assert KEYS.window("device", "d-1", "m-1") == "ps:{device:d-1}:mwin:m-1"
    assert SERVED.recommendations("C17850", "M0001") == "ps:reco:M0001:customer:C17850"
    assert KEYS.merchant_payments("M.1_x") == "ps:{merchant:M.1_x}:payments"


@pytest.mark.parametrize("build", [RedisKeys, ServedKeys])
def test_a_namespace_with_a_brace_is_refused(build):
    with pytest.raises(ValueError, match="no braces"):
        build("ps{x}")


def test_seen_takes_only_devices_and_countries():
    with pytest.raises(ValueError, match="unknown kind"):
        KEYS.seen("c1", "card")  # type: ignore[arg-type]
