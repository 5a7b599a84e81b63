"""Card numbers (PANs) never enter paystream: how they are recognized, refused and masked.

PCI DSS forbids storing a primary account number outside a cardholder-data environment, and
paystream is not one: it keeps a card *fingerprint*. Any free-text field could still carry a
PAN by mistake (a customer id typed from a card, a description), so every string that reaches
the API or the stream is checked, and a dead letter's copy of the raw record is masked.

A PAN here is what a card number looks like: 13 to 19 digits, optionally grouped by single
spaces or dashes, that pass the Luhn check. A run of digits longer than 19 is not one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

MIN_DIGITS, MAX_DIGITS = 13, 19
# Maximal runs of digits joined by at most one space or dash; the lookarounds stop a run from
# starting or ending inside a longer one.
_RUN = re.compile(r"(?<![\d])\d(?:[ -]?\d)+(?![\d])")
# The cheap first pass over a raw record (no regular expression: Python's engine took 12 µs a
# record): every digit becomes "0" and separators go, then 13 zeros in a row mean "look closer".
_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_THIRTEEN = b"0" * MIN_DIGITS
# Opaque tokens that are never card numbers but often hold long digit runs: UUIDs (event ids,
# "27267-5086-5925-81" inside one passes Luhn one time in ten) and hex fingerprints or hashes.
_OPAQUE = (
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-f]{32,}"
)
_OPAQUE_TEXT = re.compile(_OPAQUE)
# What a masked PAN keeps, as PCI DSS allows for display: the first six and the last four.
KEEP_FIRST, KEEP_LAST = 6, 4


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _pan_runs(text: str) -> Iterator[re.Match[str]]:
    opaque = [m.span() for m in _OPAQUE_TEXT.finditer(text)]
    for match in _RUN.finditer(text):
        start, end = match.span()
        if any(start < o_end and o_start < end for o_start, o_end in opaque):
            continue
        digits = match[0].replace(" ", "").replace("-", "")
        if MIN_DIGITS <= len(digits) <= MAX_DIGITS and luhn_valid(digits):
            yield match


_ZEROS_TEXT = str.maketrans("123456789", "000000000", " -")
_THIRTEEN_TEXT = "0" * MIN_DIGITS


def contains_pan(text: str) -> bool:
    """Whether ``text`` holds something shaped like a card number that passes Luhn."""
    # The same cheap first pass as for raw records: most strings have no 13 digits in a row.
    if len(text) < MIN_DIGITS or _THIRTEEN_TEXT not in text.translate(_ZEROS_TEXT):
        return False
    return next(_pan_runs(text), None) is not None


def mask_pans(text: str) -> str:
    """``text`` with every PAN's middle digits replaced by ``*`` (first 6 and last 4 kept)."""

    def mask(match: re.Match[str]) -> str:
        run = match[0]
        positions = [i for i, c in enumerate(run) if c.isdigit()]
        hidden = set(positions[KEEP_FIRST : len(positions) - KEEP_LAST])
        return "".join("*" if i in hidden else c for i, c in enumerate(run))

    pans = {m.span() for m in _pan_runs(text)}
    return _RUN.sub(lambda m: mask(m) if m.span() in pans else m[0], text)


def _may_hold_pan(raw: bytes) -> bool:
    # About 2% of records pass (mostly event ids whose UUID holds a long digit run); they are
    # then checked string by string.
    return _THIRTEEN in raw.translate(_ZEROS, b" -")


def mask_pans_in_bytes(raw: bytes) -> bytes:
    """:func:`mask_pans` on raw bytes; bytes that are not UTF-8 survive unchanged."""
    if not _may_hold_pan(raw):
        return raw
    text = raw.decode("utf-8", errors="surrogateescape")
    return mask_pans(text).encode("utf-8", errors="surrogateescape")


def find_pan(value: Any, path: str = "") -> str | None:
    """The path (``lines.0.description``) of the first string in ``value`` holding a PAN."""
    if isinstance(value, str):
        return path or "<value>" if contains_pan(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            # A key is a string the record stores too.
            where = f"{path}.{key}" if path else str(key)
            if contains_pan(str(key)):
                return where
            found = find_pan(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = find_pan(item, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def find_pan_in_json(raw: bytes) -> str | None:
    """The path of a PAN in any string of a JSON record, or None.

    A single regular-expression pass rules out almost every record; only a record with a run
    of 13 or more digits is decoded and walked, so numbers (amounts) never count, only strings.
    Undecodable records return None: they are dead-lettered for that reason anyway, masked.
    """
    if not _may_hold_pan(raw):
        return None
    try:
        decoded = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return find_pan(decoded)
