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
