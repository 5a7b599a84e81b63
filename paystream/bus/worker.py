"""A Faust worker: its app settings, for the local broker or Event Hubs, and its start.

Every Faust app of the platform (the stream's sink workers, the risk agent) takes its settings
from :func:`faust_settings` and runs through :func:`run_worker`, which also creates missing
topics and serves /metrics with the worker's consumer lag.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any

import faust

from paystream.settings import REPO_ROOT, Settings


def faust_settings(settings: Settings) -> dict[str, Any]:
    """Faust app settings for the local broker or Event Hubs, from paystream settings."""
    kafka = settings.kafka
    data = REPO_ROOT / ".stack" / "faust"
    # Faust creates its app's folder there, but not the parents.
    data.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "broker": [f"kafka://{host.strip()}" for host in kafka.bootstrap_servers.split(",")],
        "store": "memory://",
        # Faust makes a data folder per app even with the memory store: keep it out of the
        # working directory (a test or bench world would leave one per world there).
        "datadir": str(data / "{conf.name}-data"),
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": 1,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": 1.0,
        "broker_max_poll_records": settings.streams.batch_size,
        "producer_acks": -1,
        "processing_guarantee": "at_least_once",
        "web_enabled": False,
        "consumer_connections_max_idle_ms": kafka.connections_max_idle_ms,
        "producer_connections_max_idle_ms": kafka.connections_max_idle_ms,
        "consumer_metadata_max_age_ms": kafka.metadata_max_age_ms,
        "producer_metadata_max_age_ms": kafka.metadata_max_age_ms,
        "broker_request_timeout": max(kafka.request_timeout_ms / 1000, 90.0),
        "producer_request_timeout": kafka.request_timeout_ms / 1000,
        # On a rebalance, finish the batch in hand before the partition moves to another
        # worker, so two workers never write the same batch at once.
        "stream_wait_empty": True,
        "producer_max_request_size": 1_000_000,
    }
    if kafka.profile == "eventhubs":
        assert kafka.connection_string is not None
        options["broker_credentials"] = faust.SASLCredentials(
            username="$ConnectionString",
            password=kafka.connection_string.get_secret_value(),
            ssl_context=ssl.create_default_context(),
            mechanism="PLAIN",
        )
    return options


def run_worker(
    settings: Settings,
    create: Callable[[Settings], faust.App],
    group: str,
    topics: Sequence[str],
    metrics_port: int,
    metrics_addr: str,
    log_level: str,
    prepare: Callable[[], None] | None = None,
) -> None:
    """Create missing topics, run ``prepare``, serve /metrics (with ``group``'s consumer lag
    on ``topics``), then run the Faust app in the foreground."""
    from paystream.bus.kafka import ensure_topics

    asyncio.run(ensure_topics(settings.kafka))
    if prepare is not None:
        prepare()
    if metrics_port:
        from prometheus_client import start_http_server

        from paystream.bus.lag import export_consumer_lag

        start_http_server(metrics_port, addr=metrics_addr)
        export_consumer_lag(settings.kafka, group, topics)
    # aiokafka logs whole request structs at DEBUG, the Event Hubs SASL secret included;
    # an explicit level keeps it out even under --log-level debug.
    logging.getLogger("aiokafka").setLevel(logging.INFO)
    faust.Worker(
        create(settings), loglevel=log_level.upper(), quiet=True
    ).execute_from_commandline()
