"""Ids as parts of Redis keys: escaped, so that no id can change a key's shape or its slot.

Keys join a namespace, fixed words and ids with ``:``, and the keys of one entity share the
Redis Cluster hash tag ``{kind:id}``. The ``Identifier`` alphabet allows ``:``, so an id
written into a key as it is could move the key's other parts: customer ``b:customer:a`` at
merchant ``m`` and customer ``a`` at merchant ``m:customer:b`` once named the same
recommendations key. An id holding a brace (an API key id or a JWT subject is not an
``Identifier``) could choose the key's cluster slot.

Every id placed in a key therefore goes through :func:`key_part`: ``%``, ``:``, ``{`` and
``}`` are percent-encoded, nothing else is. An id without those four characters keeps the key
it always had, and :func:`from_key_part` gives any id back from its part.
"""

from __future__ import annotations

import re

# Only these four: ``%`` so that the encoding can be reversed, ``:`` the separator, the braces
# the hash tag's delimiters. Upper-case hex, as RFC 3986 recommends.
_ESCAPES = {"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D"}
_ENCODE = str.maketrans(_ESCAPES)
_DECODE = {code: char for char, code in _ESCAPES.items()}
_ESCAPED = re.compile("|".join(map(re.escape, _DECODE)))
# What an encoded part can never hold: a raw separator or brace, or a '%' that starts no escape.
_MALFORMED = re.compile(r"[:{}]|%(?!25|3A|7B|7D)")


def key_part(value: str) -> str:
    """``value`` as one part of a Redis key: ``%``, ``:``, ``{`` and ``}`` percent-encoded.

    Any other character is kept, so the part of an id without those four is the id itself.
    """
    return value.translate(_ENCODE)


def from_key_part(part: str) -> str:
    """The id of a key part: the inverse of :func:`key_part`.

    Raises:
        ValueError: ``part`` was not made by :func:`key_part` (it holds a raw ``:``, brace or a
            ``%`` that starts none of the four escapes).
    """
    if _MALFORMED.search(part):
        raise ValueError(f"not an encoded key part: {part!r}")
    return _ESCAPED.sub(lambda match: _DECODE[match.group()], part)


def hash_tag(key: str) -> str | None:
    """The part of ``key`` that Redis Cluster hashes to pick its slot, if not the whole key.

    As Redis defines it: the characters between the first ``{`` and the first ``}`` after
    it, when there is at least one; otherwise None (the whole key is hashed).
    """
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    if end <= start + 1:
        return None
    return key[start + 1 : end]
