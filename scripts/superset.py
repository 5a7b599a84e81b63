"""A real BI client on the demo's SQL endpoint: Apache Superset's SQL Lab, screenshotted.

For ``docs/bi.md``: Superset runs from its own virtual environment (its pins clash with
paystream's), connects to the endpoint ``make demo`` leaves serving through PyHive with the
analyst account, and SQL Lab runs a gold query; headless Chromium (driven by Playwright,
with the system's Chromium) takes the screenshot. Everything binds to loopback and stops at
the end.

    .stack/superset-venv/bin/pip install apache-superset "PyHive[hive_pure_sasl]" playwright
    python -m scripts.superset docs/img/bi-superset.png
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import httpx

from paystream.settings import REPO_ROOT, get_settings

VENV = REPO_ROOT / ".stack" / "superset-venv"
HOME = REPO_ROOT / ".stack" / "superset"
PORT = 8088
QUERY = (
    "SELECT currency, period_start AS month, COUNT(DISTINCT merchant_id) AS merchants,\n"
    "       SUM(payment_count) AS payments, SUM(gross_minor) / 100 AS gross,\n"
    "       SUM(refunds_minor) / 100 AS refunds, SUM(net_minor) / 100 AS net\n"
    "FROM paystream.merchant_statements\n"
    "WHERE granularity = 'month'\n"
    "GROUP BY currency, period_start\n"
    "ORDER BY month"
)


def _env(password: str) -> dict[str, str]:
    HOME.mkdir(parents=True, exist_ok=True)
    config = HOME / "superset_config.py"
    # Written once: the metadata database's encrypted fields need the same key every run.
    if not config.exists():
        config.write_text(
            f"SECRET_KEY = {secrets.token_urlsafe(42)!r}\n"
            f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{HOME / 'superset.db'}'\n"
            "TALISMAN_ENABLED = False\n"
            "WTF_CSRF_ENABLED = False\n"
        )
    return {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(config),
        "FLASK_APP": "superset",
        "SUPERSET_ADMIN_PASSWORD": password,
    }


def _superset(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(VENV / "bin" / "superset"), *args], env=env, check=True)


def _add_database(base: str, admin_password: str, uri: str) -> int:
    """Register the endpoint as a Superset database (once); return its id."""
    name = "paystream gold (SQL endpoint)"
    with httpx.Client(base_url=base, timeout=60) as client:
        token = client.post(
            "/api/v1/security/login",
            json={"username": "admin", "password": admin_password, "provider": "db"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = {"database_name": name, "sqlalchemy_uri": uri, "expose_in_sqllab": True}
        response = client.post("/api/v1/database/", json=body, headers=headers)
        if response.status_code == 201:
            return int(response.json()["id"])
        listed = client.get("/api/v1/database/", headers=headers).json()["result"]
        for database in listed:
            if database["database_name"] == name:
                return int(database["id"])
        raise RuntimeError(f"Superset refused the database: {response.text[:500]}")


# Run by Superset's own interpreter, which has Playwright. argv: base URL, admin password,
# target file, statement, database id.
_SCREENSHOT = """
import sys, time
from urllib.parse import urlencode
from playwright.sync_api import sync_playwright
base, password, target, query, dbid = sys.argv[1:6]
with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
    )
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    # The login form's POST, through the page's own cookie jar (CSRF is off locally).
    page.request.post(base + "/login/", form={"username": "admin", "password": password})
    # SQL Lab opens a tab on that database with that statement from its URL.
    page.goto(base + "/sqllab/?" + urlencode({"dbid": dbid, "schema": "paystream", "sql": query}))
    page.wait_for_selector(".ace_content", timeout=60000)
    page.locator(".ace_content").first.click()
    page.keyboard.press("Control+Enter")
    try:
        page.wait_for_selector("text=/^[0-9,]+ rows?$/", timeout=180000)
    except Exception:
        page.screenshot(path=target + ".failed.png")
        raise
    time.sleep(1.0)
    page.screenshot(path=target)
    browser.close()
"""


def _screenshot(base: str, admin_password: str, target: Path, database: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    python = str(VENV / "bin" / "python")
    subprocess.run(
        [python, "-c", _SCREENSHOT, base, admin_password, str(target), QUERY, str(database)],
        check=True,
        timeout=600,
    )


def main(target: Path) -> None:
    """Start Superset, connect it to the running endpoint, and screenshot SQL Lab."""
    settings = get_settings()
    sql = settings.sql
    admin_password = secrets.token_urlsafe(24)
    env = _env(admin_password)
    _superset(env, "db", "upgrade")
    _superset(
        env, "fab", "create-admin", "--username", "admin", "--firstname", "Paystream",
        "--lastname", "Analyst", "--email", "analyst@example.com", "--password", admin_password,
    )  # fmt: skip
    _superset(env, "fab", "reset-password", "--username", "admin", "--password", admin_password)
    _superset(env, "init")
    server = subprocess.Popen(
        [str(VENV / "bin" / "superset"), "run", "-h", "127.0.0.1", "-p", str(PORT)],
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{PORT}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        password = urllib.parse.quote(sql.require_password(), safe="")
        uri = f"hive://{sql.user}:{password}@{sql.host}:{sql.port}/paystream?auth=CUSTOM"
        database = _add_database(base, admin_password, uri)
        _screenshot(base, admin_password, target, database)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "docs" / "img" / "bi-superset.png")
