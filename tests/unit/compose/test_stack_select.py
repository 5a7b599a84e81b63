"""Which services `stack up` starts: optional ones only when asked for. No processes run."""

import pytest

from compose.local.process import StackError
from compose.local.stack import LocalStack
from paystream.settings import Settings


def names(services):  # type: ignore[no-untyped-def]
    return [s.name for s in services]


def test_the_sql_endpoint_starts_only_with_its_option_or_its_name():
    stack = LocalStack(Settings())
    default = names(stack.select(None))
    assert "sql" not in default and {"kafka", "redis", "mlflow"} <= set(default)
    assert names(stack.select(None, ["sql"])) == [*default, "sql"]
    assert names(stack.select(["sql"])) == ["sql"]


def test_an_unknown_optional_service_is_refused_with_the_known_names():
    with pytest.raises(StackError, match="unknown service.*known: .*sql"):
        LocalStack(Settings()).select(None, ["superset"])


def test_spark_cluster_names_the_master_and_the_worker():
    stack = LocalStack(Settings())
    chosen = names(stack.select(None, ["spark-cluster"]))
    assert chosen[-2:] == ["spark-master", "spark-worker"]
    assert "sql" not in chosen


def test_pipeline_names_the_stream_workers_and_the_risk_agent_under_the_keeper():
    stack = LocalStack(Settings())
    chosen = stack.select(None, ["pipeline"])
    assert names(chosen)[-2:] == ["streams", "risk"]
    assert "streams" not in names(stack.select(None))
    streams, risk = chosen[-2:]
    assert streams.argv()[1:4] == ["-m", "compose.local.keeper", "--name"]
    assert streams.argv()[-4:] == ["streams", "run", "--metrics-port", str(streams.port)]
    assert risk.argv()[-4:] == ["streams", "risk", "--metrics-port", str(risk.port)]
