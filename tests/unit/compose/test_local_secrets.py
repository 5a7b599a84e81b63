"""The local stack generates its API secrets once, strong enough for the API to accept."""

from __future__ import annotations

import stat

from compose.local.secrets import GENERATED, ensure_local_secrets
from paystream.settings import load_settings, secret_problem


def test_secrets_are_generated_once_private_and_strong(tmp_path):
    path = tmp_path / "secrets.env"
    assert ensure_local_secrets(path) == list(GENERATED)
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A second stack up keeps them: keys issued with the pepper stay valid.
    assert ensure_local_secrets(path) == []
    assert path.read_text() == first
    values = dict(line.split("=", 1) for line in first.splitlines() if "=" in line)
    assert set(values) == set(GENERATED)
    assert all(secret_problem(v) is None for v in values.values())
    settings = load_settings(_env_file=path)
    assert settings.api.require_secrets() == (
        values["PAYSTREAM_API__JWT_SECRET"],
        values["PAYSTREAM_API__KEY_PEPPER"],
    )
    assert settings.risk.require_card_key() == values["PAYSTREAM_RISK__CARD_KEY"].encode()


def test_missing_ones_are_added_and_the_others_kept(tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text("PAYSTREAM_API__JWT_SECRET=kept-value-of-more-than-32-bytes-xyzw0123\n")
    assert ensure_local_secrets(path) == [
        "PAYSTREAM_API__KEY_PEPPER",
        "PAYSTREAM_RISK__CARD_KEY",
        "PAYSTREAM_SQL__PASSWORD",
        "PAYSTREAM_MYSQL__PASSWORD",
        "PAYSTREAM_MYSQL__REPLICATION_PASSWORD",
    ]
    assert "kept-value-of-more-than-32-bytes-xyzw0123" in path.read_text()


def test_a_checkout_from_before_gets_its_mysql_passwords_on_the_next_stack_up(
    tmp_path, monkeypatch
):
    # The secrets of an older checkout: the API's and the others, no MySQL passwords.
    path = tmp_path / "secrets.env"
    old = [name for name in GENERATED if "MYSQL" not in name]
    path.write_text("".join(f"{name}=value-{i}-{'x' * 40}\n" for i, name in enumerate(old)))
    added = ensure_local_secrets(path)
    assert added == ["PAYSTREAM_MYSQL__PASSWORD", "PAYSTREAM_MYSQL__REPLICATION_PASSWORD"]
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    for name in added:
        monkeypatch.delenv(name, raising=False)
    mysql = load_settings(_env_file=path).mysql
    assert mysql.password.get_secret_value() == values["PAYSTREAM_MYSQL__PASSWORD"]
    assert len(values["PAYSTREAM_MYSQL__REPLICATION_PASSWORD"]) == 32
    for url in (mysql.primary_url, mysql.replica_url):
        assert (
            f"paystream:{values['PAYSTREAM_MYSQL__PASSWORD']}@127.0.0.1" in url.get_secret_value()
        )
        assert ":paystream@" not in url.get_secret_value()
