"""The graph cache's keys: one cluster slot, and links that parse back."""

from __future__ import annotations

import re

import pytest

from paystream.stores.graph_cache import GraphCacheKeys, link_member, parse_link


def _hash_tag(key: str) -> str:
    # Redis Cluster hashes only the first non-empty {...} of a key.
    match = re.search(r"\{([^}]+)\}", key)
    assert match, key
    return match.group(1)


def test_every_graph_cache_key_shares_one_hash_tag_so_zinter_is_cluster_safe():
    keys = GraphCacheKeys("ps")
    every = [keys.users("device", "d1"), keys.users("card", "c{x}"), keys.links("cu"), keys.fraud]
    assert {_hash_tag(k) for k in [*every, keys.mark]} == {"ps:gx"}


def test_graph_cache_keys_never_collide_with_the_namespaced_projection_keys():
    assert not GraphCacheKeys("ps").fraud.startswith("ps:")


@pytest.mark.parametrize(("kind", "entity"), [("device", "d-1"), ("card", "ab|cd")])
def test_a_link_member_parses_back_to_its_kind_and_entity(kind, entity):
    assert parse_link(link_member(kind, entity)) == (kind, entity)


def test_a_member_of_another_kind_is_not_taken_for_a_link():
    with pytest.raises(ValueError, match="not a graph cache link"):
        parse_link("product|sku-1")
