"""The graph cache's keys: one cluster slot per entity, and links that parse back."""

from __future__ import annotations

import re

import pytest

from paystream.stores.graph_cache import link_member, parse_link
from paystream.stores.redis import RedisKeys


def _hash_tag(key: str) -> str:
    # Redis Cluster hashes only the first non-empty {...} of a key.
    match = re.search(r"\{([^}]+)\}", key)
    assert match, key
    return match.group(1)


def test_every_key_a_payers_script_touches_shares_the_customers_hash_tag():
    keys = RedisKeys("ps")
    touched = [
        keys.window("customer", "c1"),
        keys.window("customer", "c1", "m1"),
        keys.seen("c1", "device"),
        keys.seen("c1", "country"),
        keys.links("c1"),
        keys.fraud("c1"),
    ]
    assert {_hash_tag(k) for k in touched} == {"customer:c1"}
    assert all(k.startswith("ps:") for k in touched)


@pytest.mark.parametrize("kind", ["card", "device"])
def test_every_key_an_instruments_script_touches_shares_its_hash_tag(kind):
    keys = RedisKeys("ps")
    touched = [
        keys.window(kind, "x1"),
        keys.window(kind, "x1", "m1"),
        keys.users(kind, "x1"),
        keys.flagged(kind, "x1"),
    ]
    assert {_hash_tag(k) for k in touched} == {f"{kind}:x1"}


@pytest.mark.parametrize(("kind", "entity"), [("device", "d-1"), ("card", "ab|cd")])
def test_a_link_member_parses_back_to_its_kind_and_entity(kind, entity):
    assert parse_link(link_member(kind, entity)) == (kind, entity)


def test_a_member_of_another_kind_is_not_taken_for_a_link():
    with pytest.raises(ValueError, match="not a graph cache link"):
        parse_link("product|sku-1")
