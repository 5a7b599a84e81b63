"""The dashboard: JSON endpoints, and the page rendered by headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from compose.local.process import free_port
from harness.api_server import ServerThread
from harness.sample_gold import SAMPLE_REASONS, product_name

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As ml.recommender.tracking logs them: ``<model>_<metric>``, fit seconds, and the headline.
METRICS = {
    "als_precision_at_10": 0.31,
    "als_ndcg_at_10": 0.27,
    "als_coverage": 0.64,
    "als_fit_s": 41.5,
    "popularity_precision_at_10": 0.12,
    "popularity_ndcg_at_10": 0.1,
    "popularity_coverage": 0.01,
    "cooccurrence_precision_at_10": 0.2,
    "cooccurrence_ndcg_at_10": 0.18,
    "cooccurrence_coverage": 0.33,
    "ndcg_at_10": 0.27,
}
CHARTS = 7


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
        reasons = client.get("/v1/dashboard/reasons").json()
        period = client.get("/v1/dashboard/period").json()
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
    units = [r["units"] for r in top["rows"]]
    assert len(units) == 5 and units == sorted(units, reverse=True)
    assert all(r["description"] == product_name(int(r["item"][3:])) for r in top["rows"])
    assert {r["reason"] for r in reasons["rows"]} == set(SAMPLE_REASONS)
    last = api_world.spec.start + timedelta(days=api_world.spec.days - 1)
    assert period == {"first_day": api_world.spec.start.isoformat(), "last_day": last.isoformat()}


def test_dashboard_endpoints_honour_the_date_range(api_world):
    week = {"from": "2011-01-03", "to": "2011-01-09"}
    with api_world.client("analyst") as client:
        days = client.get("/v1/dashboard/revenue", params={"granularity": "day", **week}).json()
        risk = client.get("/v1/dashboard/risk", params=week).json()
        inverted = client.get(
            "/v1/dashboard/reasons", params={"from": "2011-02-01", "to": "2011-01-01"}
        )
    assert [r["period_start"] for r in days["rows"]] == [f"2011-01-0{d}" for d in range(3, 10)]
    assert [r["day"] for r in risk["rows"]] == [f"2011-01-0{d}" for d in range(3, 10)]
    assert inverted.status_code == 422
    assert inverted.headers["content-type"].startswith("application/problem+json")


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
    assert body.json()["models"]["cooccurrence"] == {
        "precision_at_10": 0.2,
        "ndcg_at_10": 0.18,
        "coverage": 0.33,
    }
    assert body.json()["fit_s"] == {"als": 41.5}


NO_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")


@NO_CHROMIUM
def test_dashboard_renders_every_chart_in_headless_chromium(api_world, dashboard_url, tmp_path):
    url = f"{dashboard_url}/dashboard#key={api_world.keys['analyst']}"
    dom = _chromium("--dump-dom", url, user_dir=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert f'data-rendered="{CHARTS}"' in page, page[-3000:]
    assert 'data-failed="0"' in page and 'data-empty="0"' in page
    assert page.count('data-state="drawn"') == CHARTS
    assert page.count('class="series"') >= 5  # net, gross and the three risk lines
    # The whole sample range is the default filter, and every money axis names its currency.
    assert 'id="from" type="date"' in page
    assert "GBP per day" in page and "GBP refunded per day" in page
    # Products by name, reason codes, models metric by metric, thousands separators.
    assert product_name(0) in page
    assert all(reason in page for reason in SAMPLE_REASONS)
    assert "nDCG@10" in page and "cooccurrence" in page and "41.5 s" in page
    assert re.search(r">\d{1,3}(,\d{3})+ GBP<", page), "money tiles without separators"
    shot = tmp_path / "dashboard.png"
    result = _chromium(
        f"--screenshot={shot}", "--window-size=1280,1500", url, user_dir=tmp_path / "profile-shot"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one


@NO_CHROMIUM
def test_dashboard_range_filter_narrows_and_empties_the_charts(api_world, dashboard_url, tmp_path):
    key = api_world.keys["analyst"]
    week = _chromium(
        "--dump-dom",
        f"{dashboard_url}/dashboard#key={key}&from=2011-01-03&to=2011-01-09",
        user_dir=tmp_path / "profile-week",
    ).stdout
    assert f'data-rendered="{CHARTS}"' in week, week[-3000:]
    assert "2011-01-03" in week and "2011-01-10" not in week.split("<main>")[1]
    later = _chromium(
        "--dump-dom",
        f"{dashboard_url}/dashboard#key={key}&from=2030-01-01&to=2030-12-31",
        user_dir=tmp_path / "profile-empty",
    ).stdout
    # Every gold-backed chart says it has no rows; the MLflow card does not depend on dates.
    assert 'data-failed="0"' in later, later[-3000:]
    assert 'data-empty="6"' in later and 'data-rendered="1"' in later
    assert "no statements from 2030-01-01 to 2030-12-31" in later
    assert "no orders from 2030-01-01 to 2030-12-31" in later
