"""Ids as Redis key parts: a reversible encoding that leaves ordinary ids as they are."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from paystream.contracts.events import Identifier
from paystream.contracts.keys import from_key_part, hash_tag, key_part

#: Every character the Identifier contract accepts (paystream/contracts/events.py).
IDENTIFIER_CHARS = string.ascii_letters + string.digits + "_.:-"
IDENTIFIER = TypeAdapter(Identifier)


def test_the_identifier_alphabet_is_exactly_the_one_the_contract_accepts():
    for char in IDENTIFIER_CHARS:
        IDENTIFIER.validate_python(f"a{char}b")
    for char in "%{} /|\\'\"\0":
        with pytest.raises(ValidationError):
            IDENTIFIER.validate_python(f"a{char}b")


@given(st.text())
def test_any_text_comes_back_from_its_key_part(value):
    part = key_part(value)
    assert ":" not in part and "{" not in part and "}" not in part
    assert from_key_part(part) == value


@given(st.text(alphabet=IDENTIFIER_CHARS.replace(":", ""), min_size=1, max_size=64))
def test_an_id_without_a_colon_keeps_the_key_part_it_always_had(value):
    # No migration: every key of such an id is the key main wrote before the encoding.
    assert key_part(value) == value


@given(st.text(), st.text())
def test_distinct_values_never_share_a_key_part(a, b):
    assert (key_part(a) == key_part(b)) == (a == b)


def test_exactly_the_four_structural_characters_are_escaped():
    assert key_part("a:reco:b") == "a%3Areco%3Ab"
    assert key_part("%{x}:") == "%25%7Bx%7D%3A"
    assert key_part("C17850_dev-ios.42") == "C17850_dev-ios.42"


@pytest.mark.parametrize("part", ["a:b", "a{b", "a}b", "50%", "%41", "%3a", "%2"])
def test_a_part_the_encoding_cannot_have_made_is_refused(part):
    with pytest.raises(ValueError, match="not an encoded key part"):
        from_key_part(part)


@pytest.mark.parametrize(
    ("key", "tag"),
    [
        ("ps:{customer:c1}:win", "customer:c1"),
        ("ps:session:s1", None),
        ("ps:{}:x{y}", None),  # an empty first tag: Redis hashes the whole key
        ("ps:{a{b}c}", "a{b"),
        ("ps:{open", None),
    ],
)
def test_the_hash_tag_is_what_redis_cluster_hashes(key, tag):
    assert hash_tag(key) == tag
