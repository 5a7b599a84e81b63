"""Checks of Redis key builders: a key's shape, read back from the key alone.

A builder is called once with markers in place of its ids (its skeleton) and once with real
ids. The key must then split on ``:`` into exactly the skeleton's parts, every fixed part as
in the skeleton and every id part decoding back to its id; and its Redis Cluster hash tag
must be the skeleton's, with the ids encoded in it. A builder that writes an id unencoded
fails as soon as an id holds a ``:`` or a brace.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence

from hypothesis import strategies as st

from paystream.contracts.keys import from_key_part, hash_tag, key_part

#: Every character the Identifier contract accepts (paystream/contracts/events.py).
IDENTIFIER_CHARS = string.ascii_letters + string.digits + "_.:-"
# Words of the key layouts, so that generated ids imitate other keys' parts.
_WORDS = ["a", "b", "m", "customer", "merchant", "reco", "popular", "win", "mwin", "session"]

#: Ids the contracts accept: any of their alphabet, and ``:``-joined words of the layouts.
identifiers = st.one_of(
    st.text(alphabet=IDENTIFIER_CHARS, min_size=1, max_size=64),
    st.lists(st.sampled_from([*_WORDS, ""]), min_size=1, max_size=6).map(":".join),
).filter(lambda value: 0 < len(value) <= 64)
#: Any id at all (an API key id or a JWT subject is not an Identifier): braces, '%', Unicode.
any_ids = st.one_of(identifiers, st.text(max_size=24), st.text(alphabet="{}%:a", max_size=8))

Builder = Callable[..., str]


def _marker(i: int) -> str:
    # No ':', brace or '%', and nothing a key's fixed words contain.
    return f"\u2460{i}\u2461"


def skeleton(build: Builder, arity: int) -> str:
    """The builder's key with a marker in place of each id."""
    return build(*(_marker(i) for i in range(arity)))


def read_ids(key: str, build: Builder, arity: int) -> list[str]:
    """The ids ``key`` was built from, read from the key alone with the builder's skeleton.

    Raises:
        AssertionError: the key does not have the skeleton's shape.
    """
    shape = skeleton(build, arity).split(":")
    parts = key.split(":")
    assert len(parts) == len(shape), f"{key!r} does not have the shape {':'.join(shape)!r}"
    ids: dict[int, str] = {}
    for part, fixed in zip(parts, shape, strict=True):
        markers = [i for i in range(arity) if _marker(i) in fixed]
        if not markers:
            assert part == fixed, f"{key!r}: {part!r} where the layout has {fixed!r}"
            continue
        [i] = markers
        head, tail = fixed.split(_marker(i))
        assert part.startswith(head) and part.endswith(tail), f"{key!r}: {part!r} vs {fixed!r}"
        ids[i] = from_key_part(part[len(head) : len(part) - len(tail)])
    return [ids[i] for i in range(arity)]


def expected_tag(build: Builder, arity: int, ids: Sequence[str]) -> str | None:
    """The hash tag the key of ``ids`` must carry: the skeleton's, with the ids encoded."""
    tag = hash_tag(skeleton(build, arity))
    if tag is None:
        return None
    for i, value in enumerate(ids):
        tag = tag.replace(_marker(i), key_part(value))
    return tag
