"""Each store's raw write speed on this machine, the reference for each sink's figure.

* MariaDB: one multi-row ``INSERT`` of a batch (the shape the ledger's writers use).
* Redis: a pipeline of ``HSET`` commands.
* Gremlin Server: one injected ``mergeV`` traversal per chunk (the tinkerpop dialect).

Every write goes to a throw-away table, key prefix or namespace, removed afterwards.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import text

from paystream.settings import Settings
from paystream.stores.gremlin import gremlin_client
from paystream.stores.mysql import primary_engine
from paystream.stores.redis import sync_client
from streams.sinks.graph_merge import build_merge_requests
from streams.sinks.graph_scripts import VertexUpsert


def mariadb_rows_per_s(settings: Settings, rows: int = 50_000, batch: int = 1_000) -> float:
    """Rows/s of multi-row inserts of ``batch`` rows, one transaction per batch."""
    engine = primary_engine(settings.mysql)
    table = f"bench_raw_{uuid.uuid4().hex[:8]}"
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    f"CREATE TABLE {table} (id VARCHAR(64) PRIMARY KEY, amount BIGINT, at DATETIME)"
                )
            )
        started = time.perf_counter()
        for start in range(0, rows, batch):
            values = [
                {"id": f"e{n}", "amount": n, "at": "2026-01-01 00:00:00"}
                for n in range(start, start + batch)
            ]
            with engine.begin() as conn:
                insert = f"INSERT INTO {table} VALUES (:id, :amount, :at)"  # noqa: S608 - our name
                conn.execute(text(insert), values)
        return rows / (time.perf_counter() - started)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def redis_ops_per_s(settings: Settings, ops: int = 200_000, chunk: int = 1_000) -> float:
    """Commands/s of ``HSET`` pipelines of ``chunk`` commands."""
    client = sync_client(settings.redis)
    prefix = f"bench-raw-{uuid.uuid4().hex[:8]}"
    try:
        started = time.perf_counter()
        for start in range(0, ops, chunk):
            pipe = client.pipeline(transaction=False)
            for n in range(start, start + chunk):
                pipe.hset(f"{prefix}:{n % 5000}", "f", n)
            pipe.execute()
        return ops / (time.perf_counter() - started)
    finally:
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


def gremlin_elements_per_s(settings: Settings, vertices: int = 20_000, chunk: int = 2_000) -> float:
    """Vertices/s merged by injected ``mergeV`` traversals of ``chunk`` rows."""
    namespace = f"bench-raw-{uuid.uuid4().hex[:8]}:"
    client = gremlin_client(settings.gremlin, timeout_s=120)
    rows = [VertexUpsert(f"{namespace}card:{n}", "card") for n in range(vertices)]
    requests = build_merge_requests(
        rows, partition_key=settings.gremlin.partition_key, namespace=namespace, max_rows=chunk
    )
    try:
        started = time.perf_counter()
        for script, bindings in requests:
            client.submit(script, bindings).all().result(120)
        return vertices / (time.perf_counter() - started)
    finally:
        client.submit("g.V().has('ns', ns).drop()", {"ns": namespace}).all().result(120)
        client.close()
