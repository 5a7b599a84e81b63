from pathlib import Path

import yaml

from compose.k8s.check_manifests import check_policy
from scripts.check_k8s_app import check_commands, paystream_invocations


def _deployment(name: str, command: list[str], replicas: int = 1) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "paystream"},
        "spec": {
            "replicas": replicas,
            "strategy": {"rollingUpdate": {"maxSurge": 0}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {
                    "containers": [{"name": name, "image": "paystream:1", "command": command}]
                },
            },
        },
    }


def _write(tmp_path: Path, *objects: dict[str, object]) -> Path:
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    return path


def test_every_step_of_a_shell_command_line_is_found_as_a_paystream_invocation():
    submit = "/opt/paystream/spark/submit.sh"
    argv = ["sh", "-c", f"sh {submit} lakehouse optimize && exec sh {submit} lakehouse vacuum"]
    assert list(paystream_invocations(argv)) == [
        ["lakehouse", "optimize"],
        ["lakehouse", "vacuum"],
    ]
    assert list(paystream_invocations(["paystream", "db", "upgrade"])) == [["db", "upgrade"]]


def test_a_misspelled_option_fails_the_commands_check_and_the_real_one_passes(tmp_path, capsys):
    bad = _write(tmp_path, _deployment("train", ["paystream", "train", "fraud", "--promot"]))
    assert check_commands(bad) == 1
    assert "No such option: --promot" in capsys.readouterr().out
    good = _write(tmp_path, _deployment("train", ["paystream", "train", "fraud", "--promote"]))
    assert check_commands(good) == 0


def test_another_program_on_the_paystream_image_fails_the_commands_check(tmp_path, capsys):
    rendered = _write(tmp_path, _deployment("api", ["uvicorn", "api.main:app"]))
    assert check_commands(rendered) == 1
    assert "not the paystream CLI" in capsys.readouterr().out


def test_more_risk_agents_than_partitions_fail_the_policy(tmp_path, capsys):
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "paystream-config-abcde12345", "namespace": "paystream"},
        "data": {"PAYSTREAM_KAFKA__PARTITIONS": "2"},
    }
    agents = _deployment("risk-agent", ["paystream", "streams", "risk"], replicas=3)
    assert check_policy("local", _write(tmp_path, config, agents)) == 1
    assert "risk-agent: 3 replicas + surge 0 > 2 partitions" in capsys.readouterr().out


def test_an_mlflow_server_without_basic_auth_fails_the_policy(tmp_path, capsys):
    server = _deployment("mlflow", ["mlflow", "server"])
    assert check_policy("test", _write(tmp_path, server)) == 1
    assert "--app-name=basic-auth" in capsys.readouterr().out
