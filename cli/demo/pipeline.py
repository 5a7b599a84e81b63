"""The main job end to end, step by step, on the local stack (``paystream demo``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.rule import Rule

from cli.demo.report import console, follow_lag, print_reconciliation
from paystream.settings import REPO_ROOT, Settings, get_settings


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs: the replay's length, the workers, and its optional last steps."""

    limit: int | None = None
    workers: int = 1
    lakehouse: bool = True
    serve: bool = True


def _stand_up() -> Settings:
    """Steps 1 and 2: the stack, the ledger schema and the topics; returns fresh settings."""
    from compose.commands import stack, topics
    from compose.local.stack import LocalStack
    from paystream.ledger.migrate import upgrade

    console.print(Rule("1. local stack"))
    with console.status("starting the local stack…"):
        LocalStack(get_settings()).up(lambda line: console.log(line))
    # On a fresh checkout, stack up has just generated the API secrets (.stack/secrets.env):
    # read the settings again so that the keys issued below use them.
    settings = get_settings()
    stack.status()

    console.print(Rule("2. ledger schema and topics"))
    upgrade(settings.mysql)
    topics.create()
    return settings


def _stream(settings: Settings, options: DemoOptions) -> bool:
    """Steps 3 to 6: the pipeline services, the replay, catching up, and the reconciliation.

    The stream workers and the risk agent are stack services: they keep running when the
    demo ends, so a payment posted through the API afterwards is applied and scored.
    """
    from compose.commands import topics
    from compose.local.pipeline_service import PIPELINE
    from compose.local.stack import LocalStack
    from harness.worlds import StreamWorld
    from ingest.commands import replay
    from ingest.online_retail.replay import DEFAULT_FILE

    console.print(Rule("3. the live pipeline: stream workers and the risk agent"))
    stack = LocalStack(settings)
    stack.up(lambda line: console.log(line), list(PIPELINE))
    for row in stack.status():
        if row.name in PIPELINE:
            log = stack.services[row.name].log_path
            console.print(f"{row.name}: pid {row.pid}, kept running by the stack (log: {log})")
    # Only for waiting on the groups, and for any extra workers asked for with --workers.
    world = StreamWorld(settings, "paystream", REPO_ROOT / ".stack" / "logs" / "demo")
    for _ in range(options.workers - 1):
        proc = world.start_worker()
        console.print(f"extra streams run pid {proc.pid}, for the replay (log: {world.logs})")
    try:
        console.print(Rule("4. Online Retail replay"))
        replay.online_retail(path=DEFAULT_FILE, rate=None, limit=options.limit, dry_run=False)

        console.print(Rule("5. waiting for the workers to consume everything"))
        stream_started = time.monotonic()
        follow_lag(settings, world, timeout_s=900)
        world.wait_all_caught_up(timeout_s=60)
        console.print(f"all consumer groups caught up in {time.monotonic() - stream_started:.0f} s")

        console.print(Rule("6. what each store holds"))
        topics.counts()
        return print_reconciliation(settings)
    finally:
        for proc in world.workers:
            world.kill(proc, sig=15)


def _lakehouse_and_serving(settings: Settings, serve: bool) -> bool:
    """Steps 7 to 11: gold built and reconciled and then kept fresh by the lakehouse service,
    the recommender, the API, the SQL endpoint, and a posted payment followed into gold."""
    from cli.demo import freshness, serving
    from compose.local.api_process import start_api
    from compose.local.stack import LocalStack
    from lakehouse.commands.render import build_lakehouse, print_gold_reconciliation

    console.print(Rule("7. lakehouse: Kafka → bronze → silver → gold"))
    # A service left by an earlier demo holds the lakehouse's writer lock: the build first,
    # then the service again, on the new tables.
    LocalStack(settings).down(lambda line: None, ["lakehouse"])
    build_lakehouse(settings, graph=False)
    ok = print_gold_reconciliation(settings)
    freshness.start_lakehouse_service(settings, console)
    if serve:
        console.print(Rule("8. recommender: train on gold, register, serve to Redis"))
        serving.train_recommender(settings, console)
        console.print(Rule("9. the API"))
        start_api(settings)
        posted = serving.print_example_calls(settings, console)
        console.print(Rule("10. the SQL endpoint for BI tools"))
        serving.start_sql_endpoint(settings, console)
        if posted is not None:
            console.print(Rule("11. gold kept fresh by the lakehouse service"))
            ok = freshness.follow_into_gold(settings, posted, console, endpoint=True) and ok
    return ok


def run_demo(options: DemoOptions) -> bool:
    """Run every step of the demo; True when every reconciliation agreed."""
    started = time.monotonic()
    settings = _stand_up()
    ok = _stream(settings, options)
    if options.lakehouse:
        # The pipeline is caught up and idle: Spark gets the cores.
        ok = _lakehouse_and_serving(settings, options.serve) and ok
    console.print(f"[green]done[/] in {time.monotonic() - started:.0f} s")
    return ok
