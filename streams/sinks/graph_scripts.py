"""Gremlin statements for the graph projection: fixed templates, every value a binding.

Split from :mod:`streams.sinks.graph` so the sink stays about I/O. See that module for the
portability rules (Cosmos DB for Gremlin) these templates follow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gremlin_python.statics import long

from paystream.stores.gremlin import NS

VERTEX_LABELS = frozenset({"customer", "merchant", "product", "device", "card"})
EDGE_LABELS = frozenset({"PAID", "BOUGHT", "USED"})
# Property names are pasted into script text, so they must be plain identifiers we own.
_PROPERTY_NAME = re.compile(r"^[a-z][a-z_]*$")

PropValue = str | int
Statement = tuple[str, dict[str, Any]]


def gremlin_value(value: PropValue) -> Any:
    """A property value as the driver must send it."""
    # Ints go as Long: GraphBinary cannot send a Python int above 2**31 otherwise. bool is an
    # int subclass and stays a boolean.
    return long(value) if isinstance(value, int) and not isinstance(value, bool) else value


def check_property_name(name: str) -> None:
    """Refuse a property name that is not a plain identifier owned by this code."""
    if not _PROPERTY_NAME.match(name):
        raise ValueError(f"property name {name!r} is not a plain identifier")


def _props(props: Sequence[tuple[str, PropValue]], i: int) -> tuple[str, dict[str, Any]]:
    text: list[str] = []
    bindings: dict[str, Any] = {}
    for j, (name, value) in enumerate(props):
        check_property_name(name)
        text.append(f".property('{name}', a{i}_{j})")
        bindings[f"a{i}_{j}"] = gremlin_value(value)
    return "".join(text), bindings


@dataclass(frozen=True)
class VertexUpsert:
    """One vertex to create if missing; ``props`` are set only when it is created."""

    vid: str
    label: str
    props: tuple[tuple[str, PropValue], ...] = ()

    @property
    def binding_count(self) -> int:
        """Bindings this statement adds to a request."""
        return 1 + len(self.props)

    def render(self, i: int) -> Statement:
        """Statement ``i`` of a request: template text and its bindings."""
        if self.label not in VERTEX_LABELS:
            raise ValueError(f"unknown vertex label {self.label!r}")
        props, bindings = _props(self.props, i)
        text = (
            f"g.V(v{i}).has(pkn, v{i}).fold().coalesce(unfold(), "
            f"addV('{self.label}').property(id, v{i}).property(pkn, v{i})"
            f".property('{NS}', ns){props}).iterate()"
        )
        return text, {f"v{i}": self.vid, **bindings}


@dataclass(frozen=True)
class EdgeUpsert:
    """One edge to create if missing; ``props`` are (re)set to these absolute values."""

    eid: str
    label: str
    src: str
    dst: str
    props: tuple[tuple[str, PropValue], ...] = ()

    @property
    def binding_count(self) -> int:
        """Bindings this statement adds to a request."""
        return 3 + len(self.props)

    def render(self, i: int) -> Statement:
        """Statement ``i`` of a request: template text and its bindings."""
        if self.label not in EDGE_LABELS:
            raise ValueError(f"unknown edge label {self.label!r}")
        props, bindings = _props(self.props, i)
        # The step label 'd' avoids a nested V() inside to(), which TinkerPop and Cosmos
        # spell differently; the edge is added from the source vertex's side. A missing end
        # makes this a no-op, which is why apply() writes vertices in earlier requests.
        text = (
            f"g.V(d{i}).has(pkn, d{i}).as('d').V(s{i}).has(pkn, s{i})"
            f".coalesce(outE('{self.label}').hasId(e{i}), addE('{self.label}').to('d')"
            f".property(id, e{i}).property('{NS}', ns)){props}.iterate()"
        )
        return text, {f"s{i}": self.src, f"d{i}": self.dst, f"e{i}": self.eid, **bindings}


@dataclass(frozen=True)
class VertexMark:
    """Properties (re)set on a vertex that already exists, e.g. a fraud flag.

    A missing vertex makes this a no-op, which is why apply() writes marks after vertices.
    Values are absolute, so a replay sets the same value again.
    """

    vid: str
    label: str
    props: tuple[tuple[str, PropValue], ...] = ()

    @property
    def binding_count(self) -> int:
        """Bindings this statement adds to a request."""
        return 1 + len(self.props)

    def render(self, i: int) -> Statement:
        """Statement ``i`` of a request: template text and its bindings."""
        if self.label not in VERTEX_LABELS:
            raise ValueError(f"unknown vertex label {self.label!r}")
        props, bindings = _props(self.props, i)
        return f"g.V(v{i}).has(pkn, v{i}){props}.iterate()", {f"v{i}": self.vid, **bindings}


Upsert = VertexUpsert | EdgeUpsert | VertexMark


# Cosmos DB for Gremlin refuses scripts over 64 KB; stay clear of it (bindings do not count).
MAX_SCRIPT_BYTES = 60_000


def build_requests(
    rows: Iterable[Upsert],
    *,
    partition_key: str,
    namespace: str,
    max_statements: int = 50,
    max_bindings: int = 400,
    max_script_bytes: int = MAX_SCRIPT_BYTES,
) -> list[Statement]:
    """Pack upserts into requests of at most ``max_statements``, ``max_bindings`` and
    ``max_script_bytes`` of script text (the ``cosmos`` dialect)."""
    shared = {"pkn": partition_key, "ns": namespace}
    # Gremlin Server compiles each distinct script text once (~40 ms) and then reuses it
    # (~0.15 ms a statement). Packing only rows of one shape per request keeps the number of
    # distinct texts small (shapes × request sizes), so nearly every request is a cache hit.
    by_shape: dict[tuple[str, str, tuple[str, ...]], list[Upsert]] = {}
    for row in rows:
        by_shape.setdefault(shape(row), []).append(row)
    requests: list[Statement] = []
    texts: list[str] = []
    bindings: dict[str, Any] = dict(shared)
    current: tuple[str, str, tuple[str, ...]] | None = None
    size = 0

    def flush() -> None:
        nonlocal texts, bindings, size
        if texts:
            requests.append((";\n".join(texts), bindings))
        texts, bindings, size = [], dict(shared), 0

    for row in (row for group in by_shape.values() for row in group):
        if len(shared) + row.binding_count > max_bindings:
            raise ValueError(f"one statement needs more than {max_bindings} bindings")
        text, own = row.render(len(texts))
        if texts and (
            len(texts) >= max_statements
            or shape(row) != current
            or len(bindings) + len(own) > max_bindings
            or size + 2 + len(text.encode()) > max_script_bytes
        ):
            flush()
            text, own = row.render(0)
        if len(text.encode()) > max_script_bytes:
            raise ValueError(f"one statement is longer than {max_script_bytes} bytes")
        current = shape(row)
        texts.append(text)
        bindings.update(own)
        size += len(text.encode()) + (2 if len(texts) > 1 else 0)
    flush()
    return requests


def shape(row: Upsert) -> tuple[str, str, tuple[str, ...]]:
    kind = {VertexUpsert: "V", EdgeUpsert: "E", VertexMark: "M"}[type(row)]
    return kind, row.label, tuple(name for name, _ in row.props)


def row_key(row: Upsert) -> str:
    return row.eid if isinstance(row, EdgeUpsert) else f"{type(row).__name__}:{row.vid}"


def cacheable(row: Upsert) -> bool:
    # Vertices only set properties on creation; edges with properties (PAID) carry values
    # that change, so they are always written.
    return isinstance(row, VertexUpsert) or (isinstance(row, EdgeUpsert) and not row.props)
