"""The Databricks job definition names real commands and real settings. No services."""

import json

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from cli.main import app
from paystream.settings import REPO_ROOT, Settings

JOBS = [
    json.loads((REPO_ROOT / "compose" / "databricks" / name).read_text())
    for name in ("lakehouse-jobs.json", "lakehouse-refresh-job.json")
]


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j["name"])
def test_every_task_runs_a_paystream_command_that_parses(job):
    tasks = [t for t in job["tasks"] if "python_wheel_task" in t]
    assert tasks
    for task in tasks:
        wheel = task["python_wheel_task"]
        assert (wheel["package_name"], wheel["entry_point"]) == ("paystream", "paystream")
        # --help is eager: the command path and options parse, nothing runs.
        result = CliRunner().invoke(app, [*wheel["parameters"], "--help"])
        assert result.exit_code == 0, (task["task_key"], result.output[-500:])


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j["name"])
def test_every_environment_variable_is_a_paystream_setting(job):
    for cluster in job["job_clusters"]:
        env = cluster["new_cluster"]["spark_env_vars"]
        assert env["PAYSTREAM_LAKEHOUSE__SPARK_MASTER"] == "databricks"
        for key in env:
            model: type[BaseModel] = Settings
            *path, last = key.removeprefix("PAYSTREAM_").lower().split("__")
            for part in path:
                model = model.model_fields[part].annotation  # type: ignore[assignment]
            assert last in model.model_fields, key
