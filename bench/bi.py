"""Benchmark: a BI tool's query over the SQL endpoint, beside the same query through delta-rs.

The configuration users run: the endpoint ``make demo`` leaves serving the demo's gold
(``paystream stack up --with sql``, its settings and password), queried over HiveServer2 by
PyHive as Superset does, on one connection kept open as BI tools keep theirs. The reference
is the same statement through ``paystream sql``'s engine (``lakehouse.sql.query``: delta-rs
and DataFusion, in process, without the command's interpreter start-up).

Figure: ``bi.thrift_query_p50_ms`` (and the p99 in the notes). Runs alternate between the
two paths, so both see the same machine; the first query of each is a warm-up.

    python -m bench.bi --runs 3
"""

from __future__ import annotations

import statistics
import time
from typing import Annotated, Any

import typer
from rich.console import Console

from bench.lib.record import Figure, write
from lakehouse.sql import query
from paystream.errors import ServiceUnavailableError
from paystream.settings import Settings, get_settings

console = Console()
SECTION = "BI over the SQL endpoint"
#: What a merchant-facing dashboard asks first: net takings per currency and month.
STATEMENT = (
    "SELECT currency, period_start, SUM(gross_minor) AS gross, SUM(refunds_minor) AS refunds, "
    "SUM(net_minor) AS net FROM merchant_statements WHERE granularity = 'month' "
    "GROUP BY currency, period_start ORDER BY currency, period_start"
)


def connect(settings: Settings) -> Any:
    """A PyHive connection to the running endpoint, as Superset opens one.

    Raises:
        ServiceUnavailableError: nothing answers, naming the setting and the command.
    """
    from pyhive import hive

    sql = settings.sql
    try:
        return hive.connect(
            host=sql.host,
            port=sql.port,
            username=sql.user,
            password=sql.require_password(),
            auth="CUSTOM",
            database="paystream",
        )
    except Exception as exc:
        raise ServiceUnavailableError(
            "SQL endpoint",
            f"{sql.host}:{sql.port}",
            f"{exc}; `make demo` or `paystream stack up --with sql` starts it",
        ) from exc


def _timed(run: Any) -> float:
    """Milliseconds one call of ``run`` takes."""
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def one_run(settings: Settings, queries: int) -> tuple[list[float], list[float]]:
    """``queries`` timings (ms) of each path, alternating, after one warm-up of each."""
    connection = connect(settings)
    cursor = connection.cursor()
    root = settings.lakehouse.root

    def thrift() -> list[tuple[Any, ...]]:
        cursor.execute(STATEMENT)
        return list(cursor.fetchall())

    def deltars() -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in query(root, STATEMENT).to_pylist()]

    try:
        first, reference = thrift(), deltars()
        # HiveServer2 sends dates as text: compare the rows as text.
        if [tuple(map(str, r)) for r in first] != [tuple(map(str, r)) for r in reference]:
            raise AssertionError("the endpoint and delta-rs disagree on the benchmark query")
        over, direct = [], []
        for _ in range(queries):
            over.append(_timed(thrift))
            direct.append(_timed(deltars))
        return over, direct
    finally:
        connection.close()


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main(
    runs: Annotated[int, typer.Option(help="Runs (each a fresh connection).")] = 3,
    queries: Annotated[int, typer.Option(help="Queries per path and run.")] = 40,
    record: Annotated[
        bool, typer.Option(help="Write docs/benchmarks.md and bench/results.")
    ] = True,
) -> None:
    """Measure a gold query over the SQL endpoint beside the same query through delta-rs."""
    settings = get_settings()
    p50s, ref50s, every, every_ref = [], [], [], []
    for i in range(runs):
        over, direct = one_run(settings, queries)
        p50s.append(statistics.median(over))
        ref50s.append(statistics.median(direct))
        every += over
        every_ref += direct
        console.log(
            f"run {i + 1}: endpoint p50 {p50s[-1]:.1f} ms, delta-rs p50 {ref50s[-1]:.1f} ms"
        )
    command = f"python -m bench.bi --runs {runs} --queries {queries}"
    figure = Figure(
        "bi.thrift_query_p50_ms",
        "ms",
        p50s,
        command,
        "the same query through paystream sql's engine (delta-rs), p50 ms",
        ref50s,
        higher_is_better=False,
    )
    notes = (
        f"Query: net takings per currency and month from merchant_statements ({STATEMENT!r}), "
        f"on the gold `make demo` built, over the endpoint it leaves serving "
        f"(`paystream lakehouse serve-sql`, {settings.sql.host}:{settings.sql.port}), by PyHive "
        f"on one open connection; {queries} queries per path per run, alternating. p99 over "
        f"all runs: endpoint {_p99(every):.1f} ms, delta-rs {_p99(every_ref):.1f} ms. The "
        "endpoint plans each statement in Spark (analysis, Delta snapshot check, a local job "
        "on local[*]) and returns rows over Thrift; delta-rs reads the same files in process."
    )
    console.print(f"{figure.figure}: {figure.value:.1f} ms (reference {figure.reference:.1f} ms)")
    console.print(notes)
    if record:
        write(SECTION, [figure], notes)
        console.log("recorded in docs/benchmarks.md and bench/results/")


if __name__ == "__main__":
    typer.run(main)
