"""An isolated stream world: its own topics, ledger database, Redis namespace and group.

Integration tests, benchmarks and fault drills each run workers in such a world on the shared
local stack, so they never see each other's data. Workers are real processes
(``paystream streams run``) configured through environment variables, as in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import text

from paystream.bus.kafka import KafkaPublisher, consumer_lag, drop_topics, ensure_topics
from paystream.bus.port import Message
from paystream.contracts import TOPICS, Event
from paystream.ledger.migrate import upgrade
from paystream.settings import MySQLSettings, Settings
from paystream.stores.mysql import Database, primary_engine
from paystream.stores.redis import sync_client
from streams.groups import SINKS, SinkName, group_id, sink_topics

PAYSTREAM = str(Path(sys.executable).parent / "paystream")


def _swap_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


@dataclass
class StreamWorld:
    """One isolated world; create with :func:`create_world`, end with :meth:`destroy`."""

    settings: Settings
    database_name: str
    logs: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)

    @property
    def env(self) -> dict[str, str]:
        """Environment of a worker process living in this world."""
        s = self.settings
        return {
            **os.environ,
            "PAYSTREAM_KAFKA__TOPIC_PREFIX": s.kafka.topic_prefix,
            "PAYSTREAM_KAFKA__PARTITIONS": str(s.kafka.partitions),
            "PAYSTREAM_MYSQL__PRIMARY_URL": s.mysql.primary_url.get_secret_value(),
            "PAYSTREAM_MYSQL__REPLICA_URL": s.mysql.replica_url.get_secret_value(),
            "PAYSTREAM_STREAMS__APP_ID": s.streams.app_id,
            "PAYSTREAM_STREAMS__NAMESPACE": s.streams.namespace,
            "PAYSTREAM_STREAMS__BATCH_SIZE": str(s.streams.batch_size),
            "PAYSTREAM_STREAMS__BATCH_WITHIN_S": str(s.streams.batch_within_s),
            "PAYSTREAM_RISK__APP_ID": s.risk.app_id,
            "PAYSTREAM_RISK__MODEL_NAME": s.risk.model_name,
            "PAYSTREAM_RISK__MODEL_POLL_S": str(s.risk.model_poll_s),
            "PAYSTREAM_RISK__GRAPH_TIMEOUT_MS": str(s.risk.graph_timeout_ms),
            "PAYSTREAM_RISK__GRAPH_SOURCE": s.risk.graph_source,
        }

    @property
    def domain_topics(self) -> list[str]:
        """The event topics the workers consume."""
        return [self.settings.kafka.topic(t) for t in TOPICS]

    def start_worker(self, metrics_port: int = 0, kind: str = "run") -> subprocess.Popen[bytes]:
        """Start one worker process (``kind`` "run" materializes, "risk" scores); its log goes
        to ``logs/worker-N.log``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"worker-{len(self.workers)}.log").open("ab")
        argv = [
            PAYSTREAM,
            "streams",
            kind,
            "--log-level",
            os.environ.get("PAYSTREAM_WORKER_LOG_LEVEL", "warning"),
        ]
        if metrics_port:
            argv += ["--metrics-port", str(metrics_port)]
        proc = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal a worker (and its process group) and reap it."""
        self.killed.add(proc.pid)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=60)

    def publish(self, events: list[Event], raw: list[Message] | None = None) -> None:
        """Publish raw records, then events, and wait for the broker's acknowledgements."""

        async def go() -> None:
            async with KafkaPublisher(self.settings.kafka) as publisher:
                for message in raw or []:
                    await publisher.send(message)
                for event in events:
                    await publisher.publish(event)

        asyncio.run(go())

    def processed(self) -> int:
        """Events the ledger has applied so far."""
        db = Database(self.settings.mysql)
        try:
            with db.writer.connect() as conn:
                return int(conn.execute(text("SELECT COUNT(*) FROM processed_events")).scalar_one())
        finally:
            db.dispose()

    def check_workers(self) -> None:
        """Raise, with the end of their logs, if a worker exited that nobody killed."""
        crashed = [p for p in self.workers if p.poll() is not None and p.pid not in self.killed]
        if crashed:
            logs = "".join(f.read_text()[-3000:] for f in sorted(self.logs.glob("worker-*.log")))
            raise RuntimeError(f"a worker exited on its own:\n{logs}")

    def wait_processed(self, expected: int, timeout_s: float = 180) -> int:
        """Block until the ledger applied ``expected`` events; raise after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        count = -1
        while time.monotonic() < deadline:
            count = self.processed()
            if count >= expected:
                return count
            self.check_workers()
            time.sleep(0.25)
        raise TimeoutError(
            f"only {count} of {expected} events processed in {timeout_s} s; logs in {self.logs}"
        )

    def wait_caught_up(self, timeout_s: float = 180, sinks: Sequence[SinkName] = SINKS) -> None:
        """Block until every sink's group committed every record it reads: the ledger first,
        then the projections, whose change feed the ledger fills before it commits."""
        deadline = time.monotonic() + timeout_s
        for sink in sinks:
            group, topics = group_id(self.settings, sink), sink_topics(self.settings, sink)
            while asyncio.run(consumer_lag(self.settings.kafka, group, topics)):
                self.check_workers()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the {sink} workers did not catch up in {timeout_s} s")
                time.sleep(0.25)

    def wait_all_caught_up(self, timeout_s: float = 180, materialized: bool = True) -> None:
        """Block until the risk agents scored every payment and (unless ``materialized`` is
        False) the materializing workers stored everything, their decisions included."""
        deadline = time.monotonic() + timeout_s
        payments = [self.settings.kafka.topic("payments")]
        while asyncio.run(consumer_lag(self.settings.kafka, self.settings.risk.app_id, payments)):
            self.check_workers()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the risk agents did not catch up in {timeout_s} s")
            time.sleep(0.25)
        if materialized:
            self.wait_caught_up(max(1.0, deadline - time.monotonic()))

    def _purge_projections(self) -> None:

        from streams.sinks.graph import GremlinGraphSink

        namespace = self.settings.streams.namespace
        client = sync_client(self.settings.redis, decode_responses=False)
        try:
            keys = list(client.scan_iter(f"{namespace}:*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
        finally:
            client.close()
        graph = GremlinGraphSink(self.settings.gremlin, namespace=f"{namespace}:")
        try:
            graph.purge_namespace()
        finally:
            graph.close()

    def destroy(self) -> None:
        """Stop the world's workers; drop its ledger database, projections and topics."""
        for proc in self.workers:
            self.kill(proc)
        self._purge_projections()
        drop_ledger_database(self.settings.mysql, self.database_name)
        asyncio.run(drop_topics(self.settings.kafka))


def create_ledger_database(mysql: MySQLSettings, name: str) -> MySQLSettings:
    """Create and migrate ledger database ``name``; return settings pointing at it."""
    primary = mysql.primary_url.get_secret_value()
    engine = primary_engine(mysql)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    engine.dispose()
    isolated = mysql.model_copy(
        update={
            "primary_url": SecretStr(_swap_database(primary, name)),
            "replica_url": SecretStr(_swap_database(mysql.replica_url.get_secret_value(), name)),
        }
    )
    upgrade(isolated)
    return isolated


def drop_ledger_database(mysql: MySQLSettings, name: str) -> None:
    """Drop ledger database ``name`` (the drop replicates to the replica)."""
    engine = primary_engine(mysql)
    with engine.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    engine.dispose()


def create_world(
    settings: Settings, logs: Path, partitions: int = 4, batch_size: int | None = None
) -> StreamWorld:
    """Create topics, a migrated ledger database and names for a new isolated world."""
    tag = f"w{uuid.uuid4().hex[:8]}"
    name = f"paystream_{tag}"
    isolated = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(
                update={"topic_prefix": tag, "partitions": partitions}
            ),
            "mysql": create_ledger_database(settings.mysql, name),
            "streams": settings.streams.model_copy(
                update={
                    "app_id": f"streams-{tag}",
                    "namespace": tag,
                    "batch_size": batch_size or settings.streams.batch_size,
                }
            ),
            "risk": settings.risk.model_copy(
                update={"app_id": f"risk-{tag}", "model_name": f"paystream-fraud-{tag}"}
            ),
        }
    )
    asyncio.run(ensure_topics(isolated.kafka))
    return StreamWorld(isolated, name, logs)
