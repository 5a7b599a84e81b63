"""``-v`` on the root, on ``paystream demo`` and on ``paystream lakehouse build`` lets the Spark
JVM's console output through; without it the JVM starts quiet."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import paystream.stores.spark as spark_store
from cli.main import app


@pytest.fixture
def shown(monkeypatch):
    """Replaces the demo and the build with a probe of the flag at the moment they run."""
    seen: list[bool] = []

    def probe(*_args, **_kwargs):
        seen.append(spark_store._show_jvm_output)
        return True

    monkeypatch.setattr("cli.demo.pipeline.run_demo", probe)
    monkeypatch.setattr("lakehouse.commands.lakehouse.build_lakehouse", probe)
    yield seen
    spark_store.show_jvm_output(False)


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        (["demo"], False),
        (["demo", "-v"], True),
        (["demo", "--verbose"], True),
        (["-v", "demo"], True),
        (["lakehouse", "build", "--layers", "gold"], False),
        (["lakehouse", "build", "--layers", "gold", "-v"], True),
        (["-v", "lakehouse", "build", "--layers", "gold"], True),
    ],
)
def test_verbose_flags_decide_whether_the_spark_jvm_output_is_shown(shown, argv, verbose):
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert shown == [verbose]
