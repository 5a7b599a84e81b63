"""The Spark session's network settings: loopback for local masters, authentication and RPC
encryption for clusters (no session is started)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from paystream.errors import ConfigurationError
from paystream.settings import LakehouseSettings
from paystream.stores import spark


@pytest.fixture(autouse=True)
def _jars(monkeypatch):
    monkeypatch.setattr(spark, "spark_jars", lambda settings: ["/jars/delta-spark.jar"])


def test_a_local_driver_binds_its_rpc_and_block_manager_to_loopback():
    options = spark._options(LakehouseSettings(spark_master="local[2]"), "t")
    assert options["spark.driver.bindAddress"] == "127.0.0.1"
    assert options["spark.driver.host"] == "127.0.0.1"
    assert options["spark.ui.enabled"] == "false"
    assert "spark.authenticate" not in options


def test_a_remote_cluster_without_a_shared_secret_is_refused_naming_the_setting():
    settings = LakehouseSettings(spark_master="spark://10.1.2.3:7077")
    with pytest.raises(ConfigurationError, match="PAYSTREAM_LAKEHOUSE__SPARK_AUTH_SECRET"):
        spark._options(settings, "t")


@pytest.mark.parametrize("master", ["spark://10.1.2.3:7077", "k8s://https://aks.example:443"])
def test_a_cluster_with_a_secret_authenticates_and_encrypts_its_rpc(master):
    settings = LakehouseSettings(spark_master=master, spark_auth_secret=SecretStr("s" * 32))
    options = spark._options(settings, "t")
    assert options["spark.authenticate"] == "true"
    assert options["spark.authenticate.secret"] == "s" * 32
    assert options["spark.network.crypto.enabled"] == "true"


def test_the_stacks_own_loopback_cluster_needs_no_secret():
    options = spark._options(LakehouseSettings(spark_master="spark://127.0.0.1:7077"), "t")
    assert options["spark.driver.bindAddress"] == "127.0.0.1"
    assert "spark.authenticate" not in options
