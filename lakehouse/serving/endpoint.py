"""The SQL endpoint BI tools connect to: Spark's Thrift JDBC/ODBC server over the lakehouse.

Power BI's Spark connector, Tableau, Superset (through PyHive) and DBeaver speak HiveServer2,
the protocol of Spark's Thrift server (``spark-hive-thriftserver``, which ships in pyspark's
jars) and of the SQL warehouses Databricks offers on Azure. ``paystream lakehouse serve-sql``
runs it in one Spark driver:

1. a session with Delta and the read-only extension (``java/io/paystream/sql``);
2. every Delta table of the chosen layers registered in the ``paystream`` database
   (``CREATE TABLE ... USING delta LOCATION``: the files stay where the build wrote them, and
   each query reads the newest committed version);
3. the extension locked, so from then on every session is read-only and every result is cut
   at ``sql.max_result_rows`` rows; statements are cancelled after ``sql.statement_timeout_s``
   and at most ``sql.max_concurrent_statements`` run at once;
4. the Thrift server started on that session's context, with HiveServer2's ``CUSTOM``
   password authentication against the one account of :class:`paystream.settings.SqlSettings`.

Three small Java classes do what Spark cannot be configured to do: check the password
(``PasswordAuthenticator``), refuse every statement that is not a query or a look around
(``ReadOnly``), and cap the rows of a result (``ResultCap``). They are compiled here with the
JDK's ``javac`` against pyspark's own jars, once per source change, into ``.cache/jars/sql``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.sql import table_locations
from paystream.errors import ConfigurationError
from paystream.settings import Settings
from paystream.stores.spark import build_spark, spark_jars

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

JAVA_SOURCES = Path(__file__).parent / "java"
DATABASE = "paystream"
# Classes inside the jar built from JAVA_SOURCES.
AUTHENTICATOR = "io.paystream.sql.PasswordAuthenticator"
READ_ONLY = "io.paystream.sql.ReadOnly"


@dataclass(frozen=True)
class Registered:
    """A table the endpoint serves: ``paystream.<name>`` over the Delta files at ``location``."""

    name: str
    layer: str
    location: str


def endpoint_jar(cache: Path) -> Path:
    """The jar of the endpoint's Java classes, compiled if its sources changed.

    Raises:
        ConfigurationError: no ``javac`` (the JDK), naming the package that provides it.
    """
    sources = sorted(JAVA_SOURCES.rglob("*.java"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    jar = cache / "jars" / "sql" / f"paystream-sql-{digest}.jar"
    if jar.exists():
        return jar
    javac, jar_tool = shutil.which("javac"), shutil.which("jar")
    if javac is None or jar_tool is None:
        raise ConfigurationError(
            "the SQL endpoint compiles two Java classes and needs the JDK's javac and jar; "
            "install openjdk-17-jdk-headless (`paystream stack up --with sql` does)"
        )
    import pyspark

    classpath = str(Path(pyspark.__file__).parent / "jars" / "*")
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as classes:
        compiled = subprocess.run(
            [javac, "--release", "17", "-d", classes, "-cp", classpath, *map(str, sources)],
            check=False,
            capture_output=True,
            text=True,
        )
        if compiled.returncode != 0:
            raise ConfigurationError(
                f"javac could not compile the endpoint's classes: {compiled.stderr.strip()}"
            )
        partial = jar.with_suffix(".tmp")
        subprocess.run([jar_tool, "cf", str(partial), "-C", classes, "io"], check=True)
        # Renamed into place: a concurrent start never loads a half-written jar.
        partial.replace(jar)
    return jar


def served_tables(root: Path, layers: tuple[str, ...]) -> list[Registered]:
    """The Delta tables of ``layers`` under ``root``, by their names in ``paystream``."""
    found = []
    for name, location in table_locations(root).items():
        layer = Path(location).parent.name
        if layer in layers:
            found.append(Registered(name, layer, location))
    return found


def hive_properties(settings: Settings) -> dict[str, str]:
    """HiveServer2's settings, as JVM system properties (HiveConf reads its own from there)."""
    sql = settings.sql
    return {
        "hive.server2.thrift.bind.host": sql.host,
        "hive.server2.thrift.port": str(sql.port),
        "hive.server2.transport.mode": "binary",
        "hive.server2.authentication": "CUSTOM",
        "hive.server2.custom.authentication.class": AUTHENTICATOR,
        # Operation logs would be written under /tmp per session; nothing reads them.
        "hive.server2.logging.operation.enabled": "false",
        # Statements run on this many background threads; the rest wait in line, so a
        # burst of heavy queries cannot take every core of the endpoint at once.
        "hive.server2.async.exec.threads": str(sql.max_concurrent_statements),
        "hive.server2.async.exec.wait.queue.size": "100",
    }


def start(settings: Settings) -> tuple[SparkSession, list[Registered]]:
    """Start the endpoint in this process; return its session and the tables it serves.

    Raises:
        ConfigurationError: no password configured, no JDK, or no table to serve.
    """
    sql, lake = settings.sql, settings.lakehouse
    password = sql.require_password()
    layers = tuple(sql.layers.split(","))
    tables = served_tables(lake.root, layers)
    if not tables:
        raise ConfigurationError(
            f"no {' or '.join(layers)} tables under {lake.root}; build them with "
            "`paystream lakehouse build` (or `make demo`)"
        )
    jar = endpoint_jar(settings.stack.cache)
    # The authenticator reads the account from the JVM's environment, which it inherits.
    os.environ["PAYSTREAM_SQL__USER"] = sql.user
    os.environ["PAYSTREAM_SQL__PASSWORD"] = password
    # The Thrift server keeps a throwaway in-memory Derby metastore for its sessions, which
    # Derby cannot create once its system home is set (the builds set one): none here, and
    # its log goes to a temporary file rather than the working directory.
    derby_log = Path(tempfile.mkdtemp(prefix="paystream-sql-")) / "derby.log"
    jars = [*spark_jars(lake), str(jar)]
    spark = build_spark(
        lake,
        "paystream-sql",
        {
            "spark.jars": ",".join(jars),
            # Also on the driver's own class path: the Thrift server's worker threads load
            # classes (Delta's, lazily) through the system class loader, which spark.jars
            # alone does not reach.
            "spark.driver.extraClassPath": ":".join(jars),
            "spark.sql.extensions": f"io.delta.sql.DeltaSparkSessionExtension,{READ_ONLY}",
            # No Hive metastore: the catalog is this driver's, rebuilt at every start.
            "spark.sql.catalogImplementation": "in-memory",
            # SELECT ... FROM parquet.`/any/path` would read any file the process can.
            "spark.sql.runSQLOnFiles": "false",
            "spark.driver.extraJavaOptions": (
                f"-Duser.timezone=UTC -Dderby.stream.error.file={derby_log}"
            ),
            # A runaway statement is cancelled, and its tasks interrupted, after the timeout.
            "spark.sql.thriftServer.queryTimeout": f"{sql.statement_timeout_s}s",
            "spark.sql.thriftServer.interruptOnCancel": "true",
        },
    )
    jvm: Any = spark.sparkContext._jvm  # py4j's gateway: untyped
    for key, value in hive_properties(settings).items():
        jvm.java.lang.System.setProperty(key, value)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    for table in tables:
        location = table.location.replace("'", "\\'")
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {DATABASE}.`{table.name}` USING delta "
            f"LOCATION '{location}'"
        )
    jvm.io.paystream.sql.ResultCap.set(sql.max_result_rows)
    jvm.io.paystream.sql.ReadOnly.lock()
    server = jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2
    server.startWithContext(spark._jsparkSession.sqlContext())
    log.info("SQL endpoint on %s:%d serving %d tables", sql.host, sql.port, len(tables))
    return spark, tables


def jdbc_url(settings: Settings) -> str:
    """The JDBC URL BI tools use (the password goes in the tool's own field)."""
    sql = settings.sql
    return f"jdbc:hive2://{sql.host}:{sql.port}/{DATABASE};user={sql.user}"


def with_overrides(settings: Settings, *, port: int | None, layers: str | None) -> Settings:
    """``settings`` with the endpoint's port and served layers replaced where given."""
    changes = {k: v for k, v in {"port": port, "layers": layers}.items() if v is not None}
    if not changes:
        return settings
    return settings.model_copy(update={"sql": settings.sql.model_copy(update=changes)})


def serve_until_stopped(spark: SparkSession) -> None:
    """Block until SIGTERM or Ctrl-C, then stop the endpoint's Spark session."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        spark.stop()
