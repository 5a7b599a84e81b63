"""A fast GraphBinary v1 encoder for the plain values a bulk write binds.

gremlinpython's GraphBinary writer is pure Python and generic: every value goes through a
type lookup and a class method, and a 2,000-row ``rows`` binding cost 33 ms to serialize
(about 17 µs a row), more than Gremlin Server took to merge it. The graph projection binds
only maps and lists of strings, numbers, booleans and the ``T`` / ``Direction`` enums, so
this module encodes exactly those, byte for byte as gremlinpython would (a unit test compares
the two), with the constant parts (enum keys, repeated labels) encoded once.

The result travels as :class:`Encoded`, which :func:`writer` passes through unchanged. The
format is TinkerPop's "GraphBinary" IO reference: each value is a type code, a value flag
(0 for a present value) and the value; strings and collections carry a big-endian int32
length.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from gremlin_python.process.traversal import Direction, T
from gremlin_python.statics import long
from gremlin_python.structure.io.graphbinaryV1 import GraphBinaryWriter

_INT32 = struct.Struct(">i").pack
_INT64 = struct.Struct(">q").pack
_DOUBLE = struct.Struct(">d").pack
_NULL = b"\xfe\x01"
_TRUE, _FALSE = b"\x27\x00\x01", b"\x27\x00\x00"


class Encoded(bytes):
    """A value already encoded as fully qualified GraphBinary (type code, flag, value)."""


def _string(value: str) -> bytes:
    data = value.encode()
    return b"\x03\x00" + _INT32(len(data)) + data


@lru_cache(maxsize=4096)
def _constant(value: str) -> bytes:
    # Labels, property names and the namespace repeat in every row of a chunk.
    return _string(value)


def _enum(code: bytes, name: str) -> bytes:
    # An enum is its type code and flag, then its name as a fully qualified string.
    return code + b"\x00" + _string(name)


_ENUMS: dict[Any, bytes] = {
    T.id: _enum(b"\x20", "id"),
    T.label: _enum(b"\x20", "label"),
    T.key: _enum(b"\x20", "key"),
    T.value: _enum(b"\x20", "value"),
    Direction.OUT: _enum(b"\x18", "OUT"),
    Direction.IN: _enum(b"\x18", "IN"),
    Direction.BOTH: _enum(b"\x18", "BOTH"),
}


def _key(key: Any) -> bytes:
    if type(key) is str:
        return _constant(key)
    return _ENUMS[key]


def _value(value: Any, out: list[bytes]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_string(value))
    elif kind is dict:
        _map(value, out)
    elif kind is long:
        out.append(b"\x02\x00" + _INT64(value))
    elif kind is bool:
        out.append(_TRUE if value else _FALSE)
    elif kind is int:
        out.append(b"\x01\x00" + _INT32(value))
    elif kind is float:
        out.append(b"\x07\x00" + _DOUBLE(value))
    elif kind is list:
        _list(value, out)
    elif value is None:
        out.append(_NULL)
    elif value in _ENUMS:
        out.append(_ENUMS[value])
    else:
        raise TypeError(f"cannot encode {kind.__name__} as GraphBinary here")


def _map(value: Mapping[Any, Any], out: list[bytes]) -> None:
    out.append(b"\x0a\x00" + _INT32(len(value)))
    for key, item in value.items():
        out.append(_key(key))
        _value(item, out)


def _list(items: list[Any], out: list[bytes]) -> None:
    out.append(b"\x09\x00" + _INT32(len(items)))
    for item in items:
        _value(item, out)


def encode_list(items: Iterable[Any]) -> Encoded:
    """Encode a list of maps (or plain values) as one GraphBinary ``List``.

    Raises:
        TypeError: a value of a type this encoder does not handle (use gremlinpython's
            writer for anything beyond plain values).
        KeyError: a map key that is neither a string nor a ``T`` / ``Direction`` constant.
    """
    values = list(items)
    out: list[bytes] = []
    _list(values, out)
    return Encoded(b"".join(out))


class _EncodedIO:
    """Writes an :class:`Encoded` value as it is."""

    @classmethod
    def dictify(
        cls,
        obj: Encoded,
        writer: GraphBinaryWriter,
        to_extend: bytearray,
        as_value: bool = False,
        nullable: bool = True,
    ) -> bytearray:
        to_extend.extend(obj)
        return to_extend


def writer() -> GraphBinaryWriter:
    """gremlinpython's GraphBinary writer, taught to pass :class:`Encoded` values through."""
    return GraphBinaryWriter({Encoded: _EncodedIO})
