"""The demo's last step: gold kept fresh by the lakehouse service, with no command run.

The service starts right after the demo's build (so its Spark session is warm by the end);
the payment the demo posts through the API is then followed until gold holds it, through
``paystream sql`` (delta-rs) and through the SQL endpoint BI tools use.
"""

from __future__ import annotations

import logging
import time

from rich.console import Console

from paystream.settings import Settings

#: How long the demo waits for the posted payment in gold (the target is a minute).
WAIT_S = 180.0


def start_lakehouse_service(settings: Settings, console: Console) -> None:
    """Leave ``paystream lakehouse run`` running under the stack's keeper."""
    from compose.local.stack import LocalStack

    stack = LocalStack(settings)
    with console.status("starting the lakehouse service (`paystream lakehouse run`)…"):
        stack.up(lambda line: console.log(line), ["lakehouse"])
    service = stack.services["lakehouse"]
    console.print(
        f"lakehouse service: refreshes gold every {settings.lakehouse.refresh_interval_s:g} s, "
        f"kept running by the stack (log: {service.log_path}); `paystream lakehouse status` "
        "shows how far behind the ledger gold is"
    )


def _statement(payment_id: str) -> str:
    """The gold query for one payment (the id comes from the API's answer; quotes doubled)."""
    quoted = payment_id.replace("'", "''")
    columns = "payment_id, merchant_id, amount_minor, currency, status"
    return f"SELECT {columns} FROM customer_payment_history WHERE payment_id = '{quoted}'"  # noqa: S608


def _in_gold(settings: Settings, payment_id: str) -> dict[str, object] | None:
    from lakehouse.sql import query

    found = query(settings.lakehouse.root, _statement(payment_id)).to_pylist()
    return found[0] if found else None


def _through_endpoint(settings: Settings, payment_id: str) -> bool:
    """True when the SQL endpoint (HiveServer2) returns the payment from gold."""
    from pyhive import hive

    logging.getLogger("pyhive").setLevel(logging.WARNING)
    sql = settings.sql
    connection = hive.connect(
        host=sql.host,
        port=sql.port,
        username=sql.user,
        password=sql.require_password(),
        auth="CUSTOM",
    )
    try:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT count(*) FROM paystream.customer_payment_history WHERE payment_id = %(id)s",
            {"id": payment_id},
        )
        return bool(cursor.fetchall() == [(1,)])
    finally:
        connection.close()


def follow_into_gold(
    settings: Settings, posted: tuple[str, float], console: Console, endpoint: bool
) -> bool:
    """Wait until gold holds the payment posted at ``posted``; True when it did in time."""
    payment_id, at = posted
    console.print(
        "the payment posted above, in gold, with no command run:\n"
        f'  paystream sql "{_statement(payment_id)}"',
        soft_wrap=True,
        highlight=False,
    )
    found = None
    with console.status("waiting for the lakehouse service's next refresh…"):
        while time.monotonic() - at < WAIT_S:
            found = _in_gold(settings, payment_id)
            if found is not None:
                break
            time.sleep(2)
    took = time.monotonic() - at
    if found is None:
        console.print(f"[red]  → not in gold {took:.0f} s after the POST[/]")
        return False
    console.print(f"  → in gold {took:.0f} s after the POST: {found}", soft_wrap=True)
    if endpoint:
        seen = _through_endpoint(settings, payment_id)
        console.print(
            "  → and through the SQL endpoint: "
            + ("[green]found[/]" if seen else "[red]not found[/]")
        )
    return True
