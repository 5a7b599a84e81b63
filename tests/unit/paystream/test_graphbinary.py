"""The fast GraphBinary encoder writes exactly what gremlinpython's writer writes."""

from __future__ import annotations

import pytest
from gremlin_python.driver.request import RequestMessage
from gremlin_python.driver.serializer import GraphBinarySerializersV1
from gremlin_python.process.traversal import Direction, T
from gremlin_python.statics import long
from gremlin_python.structure.io.graphbinaryV1 import GraphBinaryWriter

from paystream.stores.graphbinary import Encoded, encode_list, writer

ROWS = [
    {
        T.id: "BOUGHT:n:customer:1>n:product:85123A",
        T.label: "BOUGHT",
        Direction.OUT: "n:customer:1",
        Direction.IN: "n:product:85123A",
        "ns": "n:",
    },
    {
        "m": {T.id: "n:merchant:m1", T.label: "merchant"},
        "c": {"pk": "n:merchant:m1", "name": "Café 漢字", "count": long(2**40), "flag": True},
        "p": {"amount_minor": long(-5), "small": 7, "ratio": 0.25, "off": False},
    },
    {"nested": [1, "two", None, [long(3)]]},
]


def test_the_encoding_is_byte_for_byte_gremlinpythons() -> None:
    expected = bytes(GraphBinaryWriter().to_dict(ROWS, bytearray()))
    assert encode_list(ROWS) == expected


def test_an_encoded_binding_travels_unchanged_in_a_request() -> None:
    def request(rows: object) -> bytes:
        message = RequestMessage(
            "", "eval", {"gremlin": "g.inject(rows)", "bindings": {"rows": rows}}
        )
        return GraphBinarySerializersV1(writer=writer()).serialize_message("5" * 32, message)

    fast = request(encode_list(ROWS))
    plain = request(ROWS)
    assert fast == plain


def test_a_value_it_does_not_handle_is_refused_not_guessed() -> None:
    with pytest.raises(TypeError, match="set"):
        encode_list([{"tags": {"a"}}])
    with pytest.raises(KeyError):
        encode_list([{3: "a number is not a map key here"}])


def test_encoded_values_are_bytes() -> None:
    assert isinstance(encode_list([]), Encoded)
    assert encode_list([]) == b"\x09\x00\x00\x00\x00\x00"
