"""``paystream lakehouse run`` (the service that keeps gold fresh) and ``lakehouse status``."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from lakehouse.commands.render import console, start_spark
from paystream.settings import get_settings


def run(
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=1,
            help="Seconds between refreshes (default PAYSTREAM_LAKEHOUSE__REFRESH_INTERVAL_S, 30).",
        ),
    ] = None,
    once: Annotated[
        bool,
        typer.Option("--once", help="One catch-up refresh (availableNow), then exit."),
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus /metrics on 127.0.0.1:PORT (0: none; default "
            "PAYSTREAM_STACK__LAKEHOUSE_METRICS_PORT, 9467).",
        ),
    ] = None,
    metrics_addr: Annotated[
        str,
        typer.Option("--metrics-addr", help="Address /metrics binds to (0.0.0.0 in a pod)."),
    ] = "127.0.0.1",
    master: Annotated[
        str | None,
        typer.Option("--master", help="Where Spark runs (as for `lakehouse build`)."),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING.")] = "INFO",
) -> None:
    """Keep the lakehouse fresh: refresh bronze, silver and gold every interval, in one Spark
    session, until stopped (SIGTERM or Ctrl-C).

    Each refresh lands new Kafka records in bronze and silver events (quarantining malformed
    ones), pulls the ledger's changes from the replica and MERGEs the gold slices they touch.
    A refresh with nothing new starts no Spark job. After each one, gold's freshness goes to
    Redis (`paystream lakehouse status`, GET /v1/status) and to /metrics. `paystream stack up
    --with lakehouse` runs this command under supervision; `make demo` starts it.
    """
    from lakehouse.jobs import with_master
    from lakehouse.live.lock import writer_lock
    from lakehouse.live.metrics import LiveMetrics
    from lakehouse.live.service import LakehouseService

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    settings = with_master(get_settings(), master)
    if interval is not None:
        lake = settings.lakehouse.model_copy(update={"refresh_interval_s": interval})
        settings = settings.model_copy(update={"lakehouse": lake})
    port = settings.stack.lakehouse_metrics_port if metrics_port is None else metrics_port
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with writer_lock(settings.lakehouse.root, "the lakehouse service"):
        spark = start_spark(settings)
        metrics = LiveMetrics()
        if port and not once:
            metrics.serve(port, metrics_addr)
        service = LakehouseService(settings, spark, metrics=metrics)
        console.print(
            f"lakehouse service: refreshing every {settings.lakehouse.refresh_interval_s:g} s"
            + (f", /metrics on {metrics_addr}:{port}" if port and not once else "")
        )
        try:
            service.run(stop, once=once)
        except KeyboardInterrupt:
            pass
        finally:
            service.close()
            spark.stop()
    if once and service.last is not None and service.last.status != "ok":
        raise typer.Exit(code=1)


def status() -> None:
    """How far behind the ledger gold is, from the lakehouse service's last refresh."""
    from paystream.contracts.freshness import GoldFreshness
    from paystream.stores.redis import RedisKeys, sync_client

    settings = get_settings()
    fields = sync_client(settings.redis).hgetall(
        RedisKeys(settings.streams.namespace).gold_freshness
    )
    freshness = GoldFreshness.from_fields(fields)
    if freshness is None:
        console.print(
            "no refresh recorded: the lakehouse service has not run "
            "(`paystream stack up --with lakehouse`)"
        )
        raise typer.Exit(code=1)
    now = datetime.now(UTC)
    out = Table("", "", title="gold freshness")
    out.add_row("lag", f"{freshness.lag_s(now):.1f} s (ledger changes gold may not hold yet)")
    out.add_row("covers ledger changes until", f"{freshness.covers_until:%Y-%m-%d %H:%M:%S} UTC")
    watermark = freshness.source_watermark
    out.add_row(
        "newest ledger change in gold",
        f"{watermark:%Y-%m-%d %H:%M:%S} UTC" if watermark else "(none)",
    )
    out.add_row(
        "last refresh",
        f"{freshness.refreshed_at:%Y-%m-%d %H:%M:%S} UTC, took {freshness.refresh_s:.1f} s",
    )
    out.add_row("status", freshness.status)
    console.print(out)
    if freshness.status != "ok":
        raise typer.Exit(code=1)
