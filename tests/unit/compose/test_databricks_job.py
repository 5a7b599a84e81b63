"""The Databricks job definition names real commands and real settings. No services."""

import json

from pydantic import BaseModel
from typer.testing import CliRunner

from cli.main import app
from paystream.settings import REPO_ROOT, Settings

JOB = json.loads((REPO_ROOT / "compose" / "databricks" / "lakehouse-jobs.json").read_text())


def test_every_task_runs_a_paystream_command_that_parses():
    tasks = [t for t in JOB["tasks"] if "python_wheel_task" in t]
    assert tasks
    for task in tasks:
        wheel = task["python_wheel_task"]
        assert (wheel["package_name"], wheel["entry_point"]) == ("paystream", "paystream")
        # --help is eager: the command path and options parse, nothing runs.
        result = CliRunner().invoke(app, [*wheel["parameters"], "--help"])
        assert result.exit_code == 0, (task["task_key"], result.output[-500:])


def test_every_environment_variable_is_a_paystream_setting():
    for cluster in JOB["job_clusters"]:
        env = cluster["new_cluster"]["spark_env_vars"]
        assert env["PAYSTREAM_LAKEHOUSE__SPARK_MASTER"] == "databricks"
        for key in env:
            model: type[BaseModel] = Settings
            *path, last = key.removeprefix("PAYSTREAM_").lower().split("__")
            for part in path:
                model = model.model_fields[part].annotation  # type: ignore[assignment]
            assert last in model.model_fields, key
