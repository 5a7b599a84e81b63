"""A command that starts Spark prints its own output only; `-v` brings the JVM's back.

Each test runs the real CLI in a subprocess (a JVM is started once per process, so only a
fresh process shows what a user sees) over an empty lakehouse, with the stack home in a
temporary folder so that the JVM's log is the test's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PAYSTREAM = Path(sys.executable).with_name("paystream")
# What the JVM, log4j, Hadoop and Spark print on their own while a session starts.
NOISE = (
    "WARNING: Using incubator modules",
    "Using Spark's default log4j profile",
    "NativeCodeLoader",
    "Unable to load native-hadoop library",
    "Setting default log level",
    "To adjust logging level",
    "WARN Utils",
    "SLF4J",
    "ivy",
    "log4j",
)
BANNER = "Using Spark's default log4j profile"


def _spark_sql(home: Path, *root_options: str) -> str:
    """``paystream [root options] lakehouse spark-sql "SELECT 1"``: stdout and stderr."""
    env = {
        **os.environ,
        "PAYSTREAM_STACK__HOME": str(home),
        "PAYSTREAM_LAKEHOUSE__ROOT": str(home / "lakehouse"),
        "PAYSTREAM_LAKEHOUSE__SPARK_MASTER": "local[1]",
    }
    done = subprocess.run(
        [str(PAYSTREAM), *root_options, "lakehouse", "spark-sql", "SELECT 41 + 1 AS answer"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    assert "42" in done.stdout
    return done.stdout


def test_a_quiet_spark_session_prints_no_jvm_log4j_or_hadoop_start_up_lines(tmp_path):
    output = _spark_sql(tmp_path)
    assert [line for line in output.splitlines() if any(n in line for n in NOISE)] == []
    # Not lost: the JVM's output is in the stack's Spark log.
    assert BANNER in (tmp_path / "logs" / "spark.log").read_text()


def test_verbose_lets_the_jvm_start_up_output_through(tmp_path):
    output = _spark_sql(tmp_path, "-v")
    assert BANNER in output
    assert not (tmp_path / "logs" / "spark.log").exists()
