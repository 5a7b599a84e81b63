"""The local stack's services: how each is prepared, started and checked for health."""

from __future__ import annotations

import shutil
import string
import subprocess
import sys
import urllib.request
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

from compose.local import install
from compose.local import mysql_accounts as accounts
from compose.local.process import StackError, port_in_use
from paystream.settings import Settings

CONF = Path(__file__).resolve().parent / "conf"


def render(template: str, target: Path, **values: object) -> Path:
    """Fill a config template from ``compose/local/conf`` into ``target``."""
    text = string.Template((CONF / template).read_text()).substitute(
        {k: str(v) for k, v in values.items()}
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


class Service(ABC):
    """One process of the local stack."""

    name: str
    #: Started only when asked for (``stack up --with NAME`` or by name).
    optional: bool = False
    tools: tuple[str, ...] = ()
    jars: tuple[str, ...] = ()
    #: Seconds ``up`` waits for health before giving up.
    start_timeout_s: float = 90.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.stack.home
        self.cache = settings.stack.cache

    @property
    @abstractmethod
    def port(self) -> int:
        """Port the service listens on."""

    @property
    def data_dir(self) -> Path:
        """Folder holding the service's data."""
        return self.home / "data" / self.name

    @property
    def log_path(self) -> Path:
        """The service's log file."""
        return self.home / "logs" / f"{self.name}.log"

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Create data folders and configuration (idempotent)."""

    @abstractmethod
    def argv(self) -> list[str]:
        """Command line that runs the service in the foreground."""

    @abstractmethod
    def healthy(self) -> bool:
        """True once the service answers real requests."""

    def env(self) -> dict[str, str] | None:
        """The process's environment (None: this one's)."""
        return None

    def after_ready(self, services: dict[str, Service]) -> None:  # noqa: B027 - optional hook
        """Run once every service is healthy (e.g. wiring replication)."""

    def java(self, component: str, main: str, *args: str, heap: str = "512m") -> list[str]:
        """Command line of a JVM service whose jars were fetched from Maven Central."""
        java = install.which("java") or "java"
        return [
            java,
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            "-cp",
            install.classpath(self.cache, component),
            main,
            *args,
        ]


class Kafka(Service):
    """A single combined KRaft broker + controller."""

    name = "kafka"
    tools = ("java", "mvn")
    jars = ("kafka",)

    @property
    def port(self) -> int:
        return self.settings.stack.kafka_port

    @property
    def config(self) -> Path:
        return self.home / "conf" / "kafka.properties"

    def prepare(self) -> None:
        render(
            "kafka.properties",
            self.config,
            port=self.port,
            controller_port=self.settings.stack.kafka_controller_port,
            data_dir=self.data_dir,
        )
        if (self.data_dir / "meta.properties").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = uuid.uuid4().hex[:22]
        argv = self.java("kafka", "kafka.tools.StorageTool", "format", "-t", cluster_id)
        argv += ["-c", str(self.config), "--ignore-formatted"]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed: {result.stderr[-400:]}")

    def argv(self) -> list[str]:
        log4j = f"-Dlog4j.configuration=file:{CONF / 'kafka-log4j.properties'}"
        cmd = self.java("kafka", "kafka.Kafka", str(self.config))
        return [cmd[0], log4j, *cmd[1:]]

    def healthy(self) -> bool:
        return port_in_use(self.port) and _broker_answers(self.port)


def _broker_answers(port: int) -> bool:
    """Ask the broker for its metadata with aiokafka (proves it serves requests)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    return asyncio.run(probe())


class MariaDB(Service):
    """A MariaDB server: the primary (binlog on) or the read-only replica."""

    tools = ("mariadbd", "mariadb-install-db", "mariadb")
    start_timeout_s = 60.0

    def __init__(self, settings: Settings, role: str) -> None:
        super().__init__(settings)
        self.role = role
        self.name = f"mysql-{role}"

    @property
    def port(self) -> int:
        stack = self.settings.stack
        return stack.mysql_primary_port if self.role == "primary" else stack.mysql_replica_port

    @property
    def socket(self) -> Path:
        return self.home / "run" / f"{self.name}.sock"

    @property
    def tmp_dir(self) -> Path:
        """A private temporary folder: a shared /tmp lets servers trip over each other."""
        return self.home / "tmp" / self.name

    def prepare(self) -> None:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        if (self.data_dir / "paystream-initialised").exists():
            return
        error = ""
        for _attempt in range(2):
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir.mkdir(parents=True)
            result = subprocess.run(
                [
                    install.which("mariadb-install-db") or "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={self.data_dir}",
                    f"--tmpdir={self.tmp_dir}",
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode == 0:
                (self.data_dir / "paystream-initialised").write_text("ok")
                return
            error = (result.stdout + result.stderr)[-400:]
        raise StackError(f"mariadb-install-db failed for {self.name}: {error}")

    def argv(self) -> list[str]:
        argv = [
            install.which("mariadbd") or "mariadbd",
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.socket}",
            f"--tmpdir={self.tmp_dir}",
            f"--pid-file={self.home / 'run' / (self.name + '.mysqld.pid')}",
            "--user=root",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--innodb-buffer-pool-size=256M",
            "--max-connections=300",
            "--gtid-strict-mode=1",
            "--log-bin=mysql-bin",
            "--binlog-format=ROW",
        ]
        if self.role == "primary":
            return [*argv, "--server-id=1"]
        return [*argv, "--server-id=2", "--read-only=1", "--log-slave-updates=1"]

    def sql(self, statement: str, headers: bool = False) -> str:
        """Run SQL as root over the local socket; return tab-separated output.

        The statements go on standard input: a password in them never shows in ``ps``.
        """
        client = install.which("mariadb") or "mariadb"
        result = subprocess.run(
            [client, "--no-defaults", "-S", str(self.socket), "-uroot", "-B"]
            + ([] if headers else ["-N"]),
            input=statement,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise StackError(f"{self.name}: `{statement[:80]}` failed: {result.stderr.strip()}")
        return result.stdout

    def healthy(self) -> bool:
        # Checked over the socket: probing the TCP port with bare connects fills the server
        # log with "aborted connection" warnings.
        if not self.socket.exists():
            return False
        try:
            if self.sql("SELECT @@port").strip() != str(self.port):
                return False
            if self.role == "replica" and self._replication_configured():
                return self.replication_running()
        except (StackError, subprocess.TimeoutExpired):
            return False
        return True

    def replication_running(self) -> bool:
        """True if both replication threads of this replica run."""
        lines = self.sql("SHOW SLAVE STATUS", headers=True).splitlines()
        if len(lines) < 2:
            return False
        status = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=False))
        return status.get("Slave_IO_Running") == "Yes" and status.get("Slave_SQL_Running") == "Yes"

    def _replication_configured(self) -> bool:
        return (self.data_dir / "paystream-replication.done").exists()

    def after_ready(self, services: dict[str, Service]) -> None:
        # Every `up`, not once: the passwords in .stack/secrets.env may be new (a checkout
        # bootstrapped with the old fixed ones is migrated here), and only then is SQL run.
        if self.role == "primary":
            self.ensure_accounts()
            return
        primary = services["mysql-primary"]
        assert isinstance(primary, MariaDB)
        primary.ensure_accounts()  # first: the replica logs in with the new password
        _, replication = accounts.passwords(self.settings.mysql)
        marker = self.data_dir / "paystream-replication.done"
        wanted = accounts.digest(replication)
        if accounts.needs_update(marker, wanted):
            configured = self._replication_configured()
            self.sql(accounts.replica_statements(primary.port, replication, configured))
            marker.write_text(wanted)

    def ensure_accounts(self) -> None:
        """Create the database and accounts, or give them the current passwords (primary)."""
        app, replication = accounts.passwords(self.settings.mysql)
        marker = self.data_dir / "paystream-bootstrap.done"
        wanted = accounts.digest(app, replication)
        if accounts.needs_update(marker, wanted):
            self.sql(accounts.primary_statements(app, replication))
            marker.write_text(wanted)


class Redis(Service):
    """Redis without persistence: its state is rebuilt from the ledger when lost."""

    name = "redis"
    tools = ("redis-server",)
    start_timeout_s = 20.0

    @property
    def port(self) -> int:
        return self.settings.stack.redis_port

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        return [
            install.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]

    def healthy(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False


class Gremlin(Service):
    """Gremlin Server with an in-memory TinkerGraph."""

    name = "gremlin"
    tools = ("java", "mvn")
    jars = ("gremlin",)

    @property
    def port(self) -> int:
        return self.settings.stack.gremlin_port

    @property
    def config(self) -> Path:
        return self.home / "conf" / "gremlin-server.yaml"

    def prepare(self) -> None:
        conf_dir = self.home / "conf"
        for name in ("tinkergraph.properties", "init.groovy"):
            render(name, conf_dir / name)
        render("gremlin-server.yaml", self.config, port=self.port, conf_dir=conf_dir)

    def argv(self) -> list[str]:
        # TinkerGraph holds the whole graph in the heap: the Online Retail log alone is about
        # 425,000 elements, which fill 512 MB and leave the server collecting garbage
        # instead of answering.
        cmd = self.java("gremlin", "org.apache.tinkerpop.gremlin.server.GremlinServer", heap="3g")
        logback = f"-Dlogback.configurationFile={CONF / 'gremlin-logback.xml'}"
        return [cmd[0], logback, *cmd[1:], str(self.config)]

    def healthy(self) -> bool:
        if not port_in_use(self.port):
            return False
        from gremlin_python.driver.client import Client
        from gremlin_python.driver.serializer import GraphSONSerializersV2d0

        client = Client(
            f"ws://127.0.0.1:{self.port}/gremlin", "g", message_serializer=GraphSONSerializersV2d0()
        )
        try:
            return bool(client.submit("1+1").all().result(timeout=5) == [2])
        except Exception:
            return False
        finally:
            client.close()


class MLflow(Service):
    """MLflow tracking server with a SQLite backend and local artifacts."""

    name = "mlflow"
    start_timeout_s = 120.0

    @property
    def port(self) -> int:
        return self.settings.stack.mlflow_port

    def prepare(self) -> None:
        (self.data_dir / "artifacts").mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        mlflow = Path(sys.executable).parent / "mlflow"
        return [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.data_dir / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.data_dir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]

    def healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False


def all_services(settings: Settings) -> list[Service]:
    """Every service of the local stack, in start order (the optional ones last)."""
    from compose.local.pipeline_service import LakehouseRefresher, RiskAgent, StreamWorkers
    from compose.local.spark_cluster import SparkMaster, SparkWorker
    from compose.local.sql_service import SqlEndpoint

    return [
        Redis(settings),
        MariaDB(settings, "primary"),
        MariaDB(settings, "replica"),
        Kafka(settings),
        Gremlin(settings),
        MLflow(settings),
        SqlEndpoint(settings),
        SparkMaster(settings),
        SparkWorker(settings),
        StreamWorkers(settings),
        RiskAgent(settings),
        LakehouseRefresher(settings),
    ]
