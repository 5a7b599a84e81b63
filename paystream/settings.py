"""One settings model for every paystream process.

Values come from environment variables (``PAYSTREAM_`` prefix, ``__`` between nested
levels, e.g. ``PAYSTREAM_KAFKA__PROFILE=eventhubs``) or from a ``.env`` file. Credentials are
``SecretStr`` so they never reach a log line or a repr.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from paystream.dsn import DEFAULT_MYSQL_PASSWORD, is_loopback, url_host, url_password, with_password
from paystream.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parent.parent

# Event Hubs closes idle connections after 240 s; stay below it so clients reconnect on
# their own terms instead of hitting a half-closed socket.
EVENTHUBS_IDLE_MS = 180_000
EVENTHUBS_REQUEST_TIMEOUT_MS = 60_000


class KafkaSettings(BaseModel):
    """Kafka or Azure Event Hubs (through its Kafka endpoint)."""

    profile: Literal["local", "eventhubs"] = "local"
    bootstrap_servers: str = "127.0.0.1:9092"
    # For Event Hubs: the namespace connection string ("Endpoint=sb://...").
    connection_string: SecretStr | None = None
    topic_prefix: str = "paystream"
    partitions: int = Field(default=6, ge=1, le=32)
    connections_max_idle_ms: int = 540_000
    # aiokafka learns that a restarted broker is back only from a metadata refresh, and it
    # refreshes on its own only this often: at Kafka's default (300 s) every consumer group
    # stalled about 5 minutes after a broker restart (bench.faults, kafka_restart). A
    # metadata request every 10 s is one small round trip per client.
    metadata_max_age_ms: int = Field(default=10_000, ge=1_000)
    request_timeout_ms: int = 40_000

    @model_validator(mode="after")
    def _eventhubs_profile(self) -> KafkaSettings:
        if self.profile == "eventhubs":
            if self.connection_string is None:
                raise ValueError(
                    "kafka.profile=eventhubs needs PAYSTREAM_KAFKA__CONNECTION_STRING "
                    "(the Event Hubs namespace connection string)"
                )
            self.connections_max_idle_ms = min(self.connections_max_idle_ms, EVENTHUBS_IDLE_MS)
            self.metadata_max_age_ms = min(self.metadata_max_age_ms, EVENTHUBS_IDLE_MS)
            self.request_timeout_ms = max(self.request_timeout_ms, EVENTHUBS_REQUEST_TIMEOUT_MS)
        return self

    def topic(self, name: str) -> str:
        """Full topic (event hub) name for a logical topic name."""
        return f"{self.topic_prefix}.{name}"

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments shared by aiokafka producers, consumers and admin clients."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "connections_max_idle_ms": self.connections_max_idle_ms,
            "metadata_max_age_ms": self.metadata_max_age_ms,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.profile == "eventhubs":
            from aiokafka.helpers import create_ssl_context

            assert self.connection_string is not None
            options.update(
                security_protocol="SASL_SSL",
                sasl_mechanism="PLAIN",
                sasl_plain_username="$ConnectionString",
                sasl_plain_password=self.connection_string.get_secret_value(),
                ssl_context=create_ssl_context(),
            )
        return options


class MySQLSettings(BaseModel):
    """The ledger: writers use the primary, readers the replica.

    A URL that names no password gets ``password`` (an account without one is written
    ``user:@host``). ``paystream stack up`` generates it into .stack/secrets.env and gives it
    to the local ``paystream`` account. Until then the default URLs keep the account's old
    password, which no host but loopback may be given.
    """

    primary_url: SecretStr = SecretStr(
        "mysql+pymysql://paystream@127.0.0.1:3306/paystream?charset=utf8mb4"
    )
    replica_url: SecretStr = SecretStr(
        "mysql+pymysql://paystream@127.0.0.1:3307/paystream?charset=utf8mb4"
    )
    password: SecretStr | None = None
    # The replica's account on the primary: only the local stack and docker-compose use it.
    replication_password: SecretStr | None = None
    pool_size: int = 5
    # Upper bound for read-your-writes waits on the replica.
    replica_wait_timeout_s: float = 5.0

    @model_validator(mode="after")
    def _passwords(self) -> MySQLSettings:
        given = self.password.get_secret_value() if self.password else None
        for name in ("primary_url", "replica_url"):
            url: str = getattr(self, name).get_secret_value()
            in_url = url_password(url)
            # Only the shipped URLs (loopback) fall back to the old default.
            fallback = None if name in self.model_fields_set else DEFAULT_MYSQL_PASSWORD
            chosen = given if given is not None else fallback
            if in_url is None and chosen is not None:
                url = with_password(url, chosen)
                setattr(self, name, SecretStr(url))
            host = url_host(url)
            if url_password(url) == DEFAULT_MYSQL_PASSWORD and not is_loopback(host):
                # Not a ValueError: pydantic would bury it in a list; this is one line.
                setting = f"mysql.{name}" if in_url is not None else "mysql.password"
                raise ConfigurationError(
                    f"{setting} is the shipped default password {DEFAULT_MYSQL_PASSWORD!r} "
                    f"for the non-loopback host {host}; set "
                    f"PAYSTREAM_{setting.replace('.', '__').upper()} to the account's own password"
                )
        return self


class RedisSettings(BaseModel):
    """Session state, profiles, balances, features and served recommendations."""

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    session_ttl_s: int = 1800


GremlinDialect = Literal["tinkerpop", "cosmos"]
GremlinSerializer = Literal["graphson2", "graphbinary"]


class GremlinSettings(BaseModel):
    """Gremlin Server locally, Cosmos DB for Gremlin in Azure.

    ``dialect`` decides how the graph projection writes: ``tinkerpop`` (Gremlin Server 3.6+)
    merges a chunk of rows in one injected ``mergeV``/``mergeE`` traversal; ``cosmos`` sends
    fold/coalesce string scripts, since Cosmos DB has no ``mergeV``/``mergeE``.
    """

    url: str = "ws://127.0.0.1:8182/gremlin"
    traversal_source: str = "g"
    dialect: GremlinDialect = "tinkerpop"
    # None picks the dialect's own, the only one each accepts: GraphBinary for tinkerpop (its
    # merge rows have typed map keys, T.id and Direction.OUT, that gremlinpython's GraphSON
    # writers cannot send), GraphSON v2 for cosmos (the only one Cosmos DB speaks).
    serializer: GremlinSerializer | None = None
    partition_key: str = "pk"
    username: str | None = None
    password: SecretStr | None = None

    @model_validator(mode="after")
    def _serializer_fits_dialect(self) -> GremlinSettings:
        if self.dialect == "cosmos" and self.serializer not in (None, "graphson2"):
            raise ValueError(
                "Cosmos DB for Gremlin speaks GraphSON v2 only: "
                "set PAYSTREAM_GREMLIN__SERIALIZER=graphson2 or leave it unset"
            )
        if self.dialect == "tinkerpop" and self.serializer not in (None, "graphbinary"):
            raise ValueError(
                "the tinkerpop dialect sends typed map keys that only GraphBinary carries: "
                "set PAYSTREAM_GREMLIN__SERIALIZER=graphbinary or leave it unset, "
                "or use PAYSTREAM_GREMLIN__DIALECT=cosmos"
            )
        return self

    @property
    def wire_serializer(self) -> GremlinSerializer:
        """The serializer clients use: the configured one, or the dialect's own."""
        if self.serializer is not None:
            return self.serializer
        return "graphbinary" if self.dialect == "tinkerpop" else "graphson2"


class MLflowSettings(BaseModel):
    """MLflow tracking server and model registry."""

    tracking_uri: str = "http://127.0.0.1:5000"


class LakehouseSettings(BaseModel):
    """Delta tables and Spark."""

    root: Path = REPO_ROOT / ".stack" / "lakehouse"
    spark_master: str = "local[*]"
    jars_dir: Path = REPO_ROOT / ".cache" / "jars" / "spark"
    # `paystream lakehouse run`: seconds between the starts of two refreshes.
    refresh_interval_s: float = Field(default=30.0, gt=0, le=3600)
    # Bronze and silver events feed no gold table, so the service lands them less often.
    events_refresh_interval_s: float = Field(default=120.0, gt=0, le=86_400)
    # Shared secret of spark.authenticate on a cluster master (spark://, k8s://); local
    # masters bind every port to loopback instead.
    spark_auth_secret: SecretStr | None = None


class SqlSettings(BaseModel):
    """The lakehouse's SQL endpoint for BI tools (``paystream lakehouse serve-sql``).

    Spark's Thrift JDBC/ODBC server (the HiveServer2 protocol) with one analyst account.
    ``layers`` are the lakehouse layers registered as tables of the ``paystream`` database.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=10000, ge=1, le=65535)
    user: str = Field(default="analyst", min_length=1, max_length=64)
    password: SecretStr | None = None
    layers: str = Field(default="gold", pattern=r"^(gold|silver)(,(gold|silver))*$")
    # One analyst's runaway query must not hold the endpoint: statements are cancelled after
    # this many seconds, results are cut at this many rows, and at most this many
    # statements run at once (the rest wait in line).
    statement_timeout_s: int = Field(default=120, ge=1, le=86_400)
    max_result_rows: int = Field(default=100_000, ge=1, le=100_000_000)
    max_concurrent_statements: int = Field(default=4, ge=1, le=64)

    def require_password(self) -> str:
        """The analyst password, once it is fit to guard the lakehouse.

        Raises:
            ConfigurationError: it is missing, short or a placeholder, naming the variable.
        """
        return required_secret(self.password, "sql.password")


class StreamsSettings(BaseModel):
    """The Faust stream workers."""

    app_id: str = "paystream-streams"
    # Prefix of every Redis key and graph vertex id the workers write (tests isolate by it).
    namespace: str = "ps"
    batch_size: int = Field(default=1000, ge=1, le=10_000)
    # Short enough for low latency when traffic is light; under load batches fill first.
    batch_within_s: float = Field(default=0.1, gt=0)


class RiskSettings(BaseModel):
    """The risk agent: real-time fraud scoring of every authorization."""

    app_id: str = "paystream-risk"
    # A batch is whatever the consumer has buffered, up to batch_size, taken at once:
    # decision latency is the point. fetch_max_wait_ms only bounds the broker's idle poll.
    batch_size: int = Field(default=200, ge=1, le=5_000)
    fetch_max_wait_ms: int = Field(default=10, ge=1, le=500)
    # Finished batches' offsets are committed this often (a crash re-decides at most this
    # much, publishing the same stored decisions).
    commit_interval_s: float = Field(default=0.5, gt=0)
    # Where graph features come from: the Redis cache that the state projection keeps warm
    # ("cache", two Redis round trips), or Gremlin itself within graph_timeout_ms ("gremlin").
    graph_source: Literal["cache", "gremlin"] = "cache"
    # Time the Gremlin source gets per batch before the decision goes ahead without it.
    graph_timeout_ms: int = Field(default=40, ge=1)
    # A payment later than the cache's newest projected event by more than this (event time)
    # is decided on the cache as it is, with the reason GRAPH_STALE.
    graph_stale_after_s: float = Field(default=300, gt=0)
    # How long a historical batch waits for a state projection that makes no progress before
    # it is decided anyway (it waits as long as the projection moves toward it: every event
    # produced before the batch read, per partition). Live payments never wait; a history
    # imported at full speed would otherwise be decided on state not projected yet, unlike
    # live. The projection may pause while the ledger it follows commits a large batch, so
    # this is seconds, not milliseconds. 0: never wait.
    projection_wait_s: float = Field(default=30.0, ge=0, le=300)
    model_name: str = "paystream-fraud"
    model_poll_s: float = Field(default=10.0, gt=0)
    # Rules-only thresholds; a model version's tags of the same names override them.
    review_threshold: float = Field(default=0.5, ge=0, le=1)
    decline_threshold: float = Field(default=0.85, ge=0, le=1)
    decision_ttl_s: int = Field(default=30 * 86400, ge=60)
    # How long a fraud label takes to arrive: a merchant's fraud rate counts only payments
    # authorized this long before the decision (newer ones cannot be known to be fraud yet).
    label_delay_days: float = Field(default=7.0, ge=0, le=60)
    # HMAC key that turns imported card ids or numbers into fingerprints (`paystream import
    # transactions`); a plain hash of a card number could be reversed by trying them all.
    card_key: SecretStr | None = None

    def require_card_key(self) -> bytes:
        """The card fingerprint key, once it is fit to protect card numbers.

        Raises:
            ConfigurationError: it is missing, short or a placeholder, naming the variable.
        """
        return required_secret(self.card_key, "risk.card_key").encode()


#: Secrets the local stack generates for itself (git-ignored, like all of .stack/).
LOCAL_SECRETS_FILE = REPO_ROOT / ".stack" / "secrets.env"
#: Shortest JWT secret or key pepper a server accepts (HS256 wants a key of its hash's size).
MIN_SECRET_BYTES = 32
# Words that only placeholders and sample files contain, never a generated secret.
_PLACEHOLDER_MARKERS = (
    "change-me",
    "changeme",
    "not-for-production",
    "example",
    "placeholder",
    "replace",
    "secret-here",
    "<",
)


def required_secret(secret: SecretStr | None, setting: str) -> str:
    """The value of a generated secret setting (``risk.card_key``), once it is fit for use.

    Raises:
        ConfigurationError: it is missing, short or a placeholder, naming the variable.
    """
    value = secret.get_secret_value() if secret else ""
    problem = secret_problem(value)
    if problem:
        variable = "PAYSTREAM_" + setting.replace(".", "__").upper()
        raise ConfigurationError(
            f"{setting} {problem}; set {variable} to at least {MIN_SECRET_BYTES} random bytes "
            "(`paystream stack up` writes a local one to .stack/secrets.env)"
        )
    return value


def secret_problem(value: str) -> str | None:
    """Why ``value`` cannot protect real data, or None when it can."""
    if not value:
        return "is not set"
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    lowered = value.lower()
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS) or len(set(value)) < 8:
        return "is a placeholder, not a secret"
    return None


class ApiSettings(BaseModel):
    """The HTTP API (``paystream api serve``)."""

    host: str = "127.0.0.1"
    port: int = 8000
    # uvicorn worker processes of `paystream api serve` (measured in docs/benchmarks.md, API).
    workers: int = Field(default=1, ge=1, le=64)
    # Token bucket per API key: sustained requests/s and burst size (keys may override both).
    rate_limit_per_s: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    # No defaults: a server refuses to start without real values (require_secrets). The
    # local stack generates them once into .stack/secrets.env, which settings read.
    jwt_secret: SecretStr | None = None
    # HMAC key for stored API-key hashes: a leaked key store alone cannot be brute-forced.
    key_pepper: SecretStr | None = None
    idempotency_ttl_s: int = 24 * 3600
    # Serve /metrics on this port (bound to ``host``) instead of the API's own, so that only
    # the scraper's network reaches it; None keeps it on the API port.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Larger request bodies get 413 before they are read (a payment is well under 1 KiB).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # How often cached Delta gold table handles look for new versions.
    gold_refresh_s: float = Field(default=10.0, ge=0)
    recommender_experiment: str = "paystream-recommender"

    def require_secrets(self) -> tuple[str, str]:
        """The JWT secret and the key pepper, once both are fit to protect real data.

        Raises:
            ConfigurationError: a secret is missing, shorter than 32 bytes or a placeholder
                (whatever the environment), naming the variable to set.
        """
        values = []
        for name in ("jwt_secret", "key_pepper"):
            secret: SecretStr | None = getattr(self, name)
            problem = secret_problem(secret.get_secret_value() if secret else "")
            if problem:
                raise ConfigurationError(
                    f"api.{name} {problem}; set PAYSTREAM_API__{name.upper()} to at least "
                    f"{MIN_SECRET_BYTES} random bytes (`paystream stack up` writes local ones "
                    "to .stack/secrets.env)"
                )
            assert secret is not None
            values.append(secret.get_secret_value())
        return values[0], values[1]


class StackSettings(BaseModel):
    """Ports and folders of the local process stack (compose/local)."""

    home: Path = REPO_ROOT / ".stack"
    cache: Path = REPO_ROOT / ".cache"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    mysql_primary_port: int = 3306
    mysql_replica_port: int = 3307
    redis_port: int = 6379
    gremlin_port: int = 8182
    mlflow_port: int = 5000
    # The optional Spark standalone cluster (`paystream stack up --with spark-cluster`).
    spark_master_port: int = 7077
    spark_master_ui_port: int = 8090
    spark_worker_ui_port: int = 8091
    # The pipeline services (`paystream stack up --with pipeline`): sink i of `streams run`
    # serves /metrics on streams_metrics_port + i; the risk agent on risk_metrics_port.
    streams_metrics_port: int = 9460
    risk_metrics_port: int = 9465
    # The lakehouse service (`paystream stack up --with lakehouse`) serves /metrics here.
    lakehouse_metrics_port: int = 9467


class Settings(BaseSettings):
    """Root settings: one nested model per external service."""

    model_config = SettingsConfigDict(
        env_prefix="PAYSTREAM_",
        env_nested_delimiter="__",
        # Later files win; real environment variables win over both. The local stack's
        # generated secrets (compose/local) come first so that a developer's .env can override.
        env_file=(LOCAL_SECRETS_FILE, ".env"),
        extra="ignore",
    )

    environment: Literal["development", "test", "production"] = "development"
    kafka: KafkaSettings = KafkaSettings()
    mysql: MySQLSettings = MySQLSettings()
    redis: RedisSettings = RedisSettings()
    gremlin: GremlinSettings = GremlinSettings()
    mlflow: MLflowSettings = MLflowSettings()
    lakehouse: LakehouseSettings = LakehouseSettings()
    sql: SqlSettings = SqlSettings()
    streams: StreamsSettings = StreamsSettings()
    risk: RiskSettings = RiskSettings()
    stack: StackSettings = StackSettings()
    api: ApiSettings = ApiSettings()


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning a validation failure into one clear configuration error."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid paystream settings: {problems}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once on first use (never at import time)."""
    return load_settings()
