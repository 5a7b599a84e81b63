"""The dashboard: JSON endpoints, and the page rendered by headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from paystream.settings import REPO_ROOT
from tests.integration.api.conftest import ServerThread, free_port

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
METRICS = {"precision_at_10": 0.31, "recall_at_10": 0.22, "ndcg_at_10": 0.27, "coverage": 0.64}


def _chromium(*args: str, user_dir: Path) -> subprocess.CompletedProcess[str]:
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={user_dir}",
        "--virtual-time-budget=15000",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def recommender_run(api_world):
    """A run with metrics in a private MLflow experiment (deleted afterwards)."""
    uri = api_world.settings.mlflow.tracking_uri.rstrip("/")
    name = f"{api_world.settings.streams.namespace}-recommender-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=f"{uri}/api/2.0/mlflow", timeout=30) as mlflow:
        experiment_id = mlflow.post("/experiments/create", json={"name": name}).json()[
            "experiment_id"
        ]
        run = mlflow.post(
            "/runs/create",
            json={
                "experiment_id": experiment_id,
                "run_name": "als-test",
                "start_time": int(time.time() * 1000),
            },
        ).json()["run"]["info"]["run_id"]
        for key, value in METRICS.items():
            mlflow.post(
                "/runs/log-metric",
                json={"run_id": run, "key": key, "value": value, "timestamp": 0, "step": 0},
            ).raise_for_status()
        yield name
        mlflow.post("/experiments/delete", json={"experiment_id": experiment_id})


@pytest.fixture(scope="module")
def dashboard_url(api_world, recommender_run):
    s = api_world.settings
    settings = s.model_copy(
        update={"api": s.api.model_copy(update={"recommender_experiment": recommender_run})}
    )
    server = ServerThread(create_app(settings), free_port()).start()
    yield server.url
    server.stop()


def test_dashboard_json_endpoints_aggregate_gold(api_world):
    with api_world.client("analyst") as client:
        revenue = client.get("/v1/dashboard/revenue", params={"granularity": "month"}).json()
        risk = client.get("/v1/dashboard/risk").json()
        top = client.get("/v1/dashboard/top-products", params={"limit": 5}).json()
        statement = None
    with api_world.client("alpha") as client:
        statement = client.get(
            "/v1/merchants/M-alpha/statements", params={"granularity": "month"}
        ).json()
    with api_world.client("beta") as client:
        other = client.get("/v1/merchants/M-beta/statements", params={"granularity": "month"})
    january = [r for r in revenue["rows"] if r["period_start"] == "2011-01-01"]
    expected = sum(
        p["gross_minor"]
        for p in statement["periods"] + other.json()["periods"]
        if p["period_start"] == "2011-01-01"
    )
    assert january[0]["gross_minor"] == expected
    assert len(risk["rows"]) == api_world.spec.days
    weights = [r["weight"] for r in top["rows"]]
    assert len(weights) == 5 and weights == sorted(weights, reverse=True)


def test_recommender_card_says_no_runs_yet_without_an_experiment(api_world):
    with api_world.client("analyst") as client:
        body = client.get("/v1/dashboard/recommender").json()
    assert body["message"] == "no runs yet" and body["run_id"] is None


def test_recommender_card_reads_the_latest_mlflow_run(api_world, dashboard_url):
    key = api_world.keys["analyst"]
    body = httpx.get(f"{dashboard_url}/v1/dashboard/recommender", headers={"X-API-Key": key})
    assert body.status_code == 200, body.text
    assert body.json()["metrics"] == METRICS
    assert body.json()["run_name"] == "als-test"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_dashboard_renders_every_chart_in_headless_chromium(api_world, dashboard_url, tmp_path):
    url = f"{dashboard_url}/dashboard#key={api_world.keys['analyst']}"
    dom = _chromium("--dump-dom", url, user_dir=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-rendered="5"' in dom.stdout, dom.stdout[-3000:]
    assert 'data-failed="0"' in dom.stdout
    assert dom.stdout.count('data-state="drawn"') == 5
    assert dom.stdout.count('class="series"') >= 4  # revenue and risk lines
    assert "precision_at_10" in dom.stdout
    shot = tmp_path / "dashboard.png"
    result = _chromium(
        f"--screenshot={shot}", "--window-size=1280,1400", url, user_dir=tmp_path / "profile-shot"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one
    if os.environ.get("PAYSTREAM_UPDATE_SCREENSHOT") == "1":
        target = REPO_ROOT / "docs" / "img" / "dashboard.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target)
