"""``paystream sql``: query gold and silver through delta-rs/DataFusion, without a JVM."""

from __future__ import annotations

from typing import Annotated

import typer

from lakehouse.commands.render import OutputFormat, print_arrow
from paystream.settings import get_settings


def sql(
    statement: Annotated[
        str, typer.Argument(help='SQL, e.g. "SELECT * FROM merchant_statements LIMIT 5".')
    ],
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.TABLE
    ),
) -> None:
    """Query gold and silver tables with SQL through delta-rs/DataFusion (no JVM).

    Tables are registered by name: merchant_statements, customer_payment_history,
    interactions_customer_product, interactions_customer_merchant, fraud_labels, risk_kpis,
    and silver's payments, refunds, orders, order_lines, events_<topic>, graph_vertices, ...
    """
    from lakehouse.sql import query

    print_arrow(query(get_settings().lakehouse.root, statement), fmt)
