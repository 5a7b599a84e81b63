"""Security probes of the stores: hostile ids in Redis keys, MySQL's old default password, and
the ledger's hand-rendered SQL literals.

Part of ``python -m bench.security``. The Redis probe goes through the API of the throw-away
world; the others need only its settings (its ledger database, its Redis), so they can be
called on their own.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime

import httpx
from pymysql.constants.SERVER_STATUS import SERVER_STATUS_NO_BACKSLASH_ESCAPES
from sqlalchemy import BigInteger, Column, MetaData, Table, Text, select, text
from sqlalchemy.dialects.mysql import insert
from sqlalchemy.engine import make_url

from bench.lib.probe import Probe
from paystream.contracts.served import Recommendations, RecommendedItem, ServedKeys
from paystream.dsn import DEFAULT_MYSQL_PASSWORD
from paystream.errors import ConfigurationError
from paystream.ledger.models import Payment
from paystream.settings import MySQLSettings, Settings
from paystream.stores.mysql import primary_engine
from paystream.stores.redis import sync_client

#: Text the ledger's literals must carry unchanged: quotes, backslashes, controls, Unicode.
HOSTILE_TEXT = [
    "it's",
    "\\'; DROP TABLE payments; --",
    "\\",
    "'\\'",
    '"\\"',
    "\0\x1a\n\r\t\x08",
    "%s %(x)s %%",
    "🧾 漢字 \U0010ffff \ufffe",
]


def store_probes(client: httpx.Client, settings: Settings, merchant: str) -> list[Probe]:
    """Every probe of this module; ``client`` holds ``merchant``'s key for the world's API."""
    return [
        colon_id_recommendations(client, settings, merchant),
        default_password_off_loopback(),
        default_password_login(settings),
        sql_literal_round_trip(settings),
    ]


def _document(customer: str, item: str) -> str:
    return Recommendations(
        customer_id=customer,
        items=[RecommendedItem(item_id=item, score=1.0, source="als")],
        model_name="probe",
        model_version="1",
        generated_at=datetime.now(UTC),
    ).model_dump_json()


def colon_id_recommendations(client: httpx.Client, settings: Settings, merchant: str) -> Probe:
    """An id holding ``:customer:`` neither overwrites nor reads another merchant's list.

    On main, merchant M's list for customer ``b:customer:a`` and merchant ``M:customer:b``'s
    list for customer ``a`` were one Redis key.
    """
    attack = "customer id b:customer:a: overwrite and read merchant M:customer:b's list for a"
    served = ServedKeys(settings.streams.namespace)
    victim = served.recommendations("a", f"{merchant}:customer:b")
    hostile = "b:customer:a"
    redis = sync_client(settings.redis)
    redis.set(victim, _document("a", "VICTIM-ITEM"))
    # The merchant's own batch writes its list for the customer it knows as b:customer:a.
    redis.set(served.recommendations(hostile, merchant), _document(hostile, "OWN-ITEM"))
    kept = "VICTIM-ITEM" in (redis.get(victim) or "")
    # The customer has paid the merchant, so the API serves its list.
    engine = primary_engine(settings.mysql)
    with engine.begin() as conn:
        conn.execute(
            insert(Payment).values(
                payment_id=f"probe-{uuid.uuid4().hex[:12]}",
                customer_id=hostile,
                merchant_id=merchant,
                amount_minor=100,
                currency="GBP",
                status="captured",
                refunded_minor=0,
                updated_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
    engine.dispose()
    response = client.get(f"/v1/customers/{hostile}/recommendations")
    for _ in range(20):  # the API reads the replica: give the payment time to arrive
        if response.status_code != 404:
            break
        time.sleep(0.25)
        response = client.get(f"/v1/customers/{hostile}/recommendations")
    redis.delete(victim, served.recommendations(hostile, merchant))
    leaked = "VICTIM-ITEM" in response.text
    seen = f"{response.status_code}, victim's list {'kept' if kept else 'overwritten'}"
    seen += ", served the victim's items" if leaked else ""
    return Probe("colon_id_redis_key", attack, kept and not leaked, seen)


def default_password_off_loopback() -> Probe:
    """Settings refuse the old default password for a database that is not on loopback."""
    attack = "ledger URL with the old default password on a non-loopback host"
    tried = [
        {"primary_url": f"mysql+pymysql://paystream:{DEFAULT_MYSQL_PASSWORD}@db.internal/x"},
        {"replica_url": "mysql+pymysql://paystream@10.0.0.7/x", "password": DEFAULT_MYSQL_PASSWORD},
    ]
    refused = 0
    for values in tried:
        try:
            MySQLSettings.model_validate(values)
        except ConfigurationError:
            refused += 1
    return Probe(
        "mysql_default_password_remote", attack, refused == len(tried), f"{refused} refused"
    )


def default_password_login(settings: Settings) -> Probe:
    """The running primary's ledger account no longer takes the old default password."""
    import pymysql

    attack = "log in to the ledger's primary with the old default password"
    url = make_url(settings.mysql.primary_url.get_secret_value())
    try:
        pymysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "paystream",
            password=DEFAULT_MYSQL_PASSWORD,
            connect_timeout=3,
        ).close()
    except pymysql.err.OperationalError as exc:
        denied = exc.args[0] == 1045  # ER_ACCESS_DENIED_ERROR
        return Probe("mysql_default_password_login", attack, denied, f"error {exc.args[0]}")
    return Probe("mysql_default_password_login", attack, False, "logged in")


#: The session's quoting modes, as a DBA could set them.
SQL_MODES = {
    "backslash escapes": "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
    "NO_BACKSLASH_ESCAPES": "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
}


def sql_literal_round_trip(settings: Settings) -> Probe:
    """Hostile text comes back unchanged through the ledger's fast INSERT, in both quoting
    modes, and a lone surrogate fails before anything is stored."""
    from streams.sinks.ledger.sql import execute_rows

    attack = "quotes, backslashes, NUL and any Unicode through the hand-rendered SQL literals"
    rng = random.Random(20261207)
    scalars = [c for c in range(1, 0x110000, 97) if not 0xD800 <= c <= 0xDFFF]
    values = [*HOSTILE_TEXT, *("".join(map(chr, rng.sample(scalars, 40))) for _ in range(20))]
    table = Table(
        f"probe_literals_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("value", Text(collation="utf8mb4_bin")),
        prefixes=["TEMPORARY"],  # this session's own: nothing replicates, nothing lingers
        mysql_charset="utf8mb4",
    )
    failures: list[str] = []
    engine = primary_engine(settings.mysql)
    try:
        for mode, statement in SQL_MODES.items():
            with engine.connect() as conn:
                conn.execute(text(statement))
                status = conn.connection.dbapi_connection.server_status  # type: ignore[union-attr]
                if bool(status & SERVER_STATUS_NO_BACKSLASH_ESCAPES) != (
                    mode == "NO_BACKSLASH_ESCAPES"
                ):
                    failures.append(f"{mode}: not in effect")
                table.metadata.create_all(conn)
                execute_rows(
                    conn, insert(table), [{"id": i, "value": v} for i, v in enumerate(values)]
                )
                back = [
                    row.value for row in conn.execute(select(table.c.value).order_by(table.c.id))
                ]
                changed = sum(a != b for a, b in zip(back, values, strict=False))
                if back != values:
                    failures.append(f"{mode}: {changed or 'some'} values changed")
                conn.execute(table.delete())
                try:
                    execute_rows(conn, insert(table), [{"id": 1, "value": "lone \ud800"}])
                    failures.append(f"{mode}: a lone surrogate was sent")
                except UnicodeEncodeError:
                    pass
                if conn.execute(select(table.c.id)).first() is not None:
                    failures.append(f"{mode}: something was stored")
                conn.rollback()
                table.metadata.drop_all(conn)
    finally:
        engine.dispose()
    seen = "; ".join(failures) or f"{len(values)} values x 2 modes unchanged, surrogate refused"
    return Probe("sql_literal_round_trip", attack, not failures, seen)
