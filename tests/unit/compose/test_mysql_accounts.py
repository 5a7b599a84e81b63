"""The local MariaDB accounts get the generated passwords, and an old checkout is migrated.

No server runs: each MariaDB service's root client is replaced by a recorder, so these check
which SQL a ``stack up`` sends, and when, for a new and for an old data directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from compose.local import mysql_accounts as accounts
from compose.local.process import StackError
from compose.local.services import MariaDB
from compose.local.stack import LocalStack
from paystream.settings import Settings, StackSettings

APP, REPL = "app-pw-'quoted'\\back", "repl-pw-0123456789abcdefghijklm"


def settings(home: Path, app: str | None = APP, repl: str | None = REPL) -> Settings:
    base = Settings()
    mysql = base.mysql.model_copy(
        update={
            "password": SecretStr(app) if app else None,
            "replication_password": SecretStr(repl) if repl else None,
        }
    )
    return base.model_copy(update={"mysql": mysql, "stack": StackSettings(home=home)})


class Recorded(MariaDB):
    """A MariaDB service whose root client only records the statements it is given."""

    def __init__(self, settings: Settings, role: str, log: list[tuple[str, str]]) -> None:
        super().__init__(settings, role)
        self.log = log

    def sql(self, statement: str, headers: bool = False) -> str:
        self.log.append((self.role, statement))
        return ""


def pair(home: Path, **passwords: str | None) -> tuple[dict, list[tuple[str, str]]]:
    log: list[tuple[str, str]] = []
    chosen = settings(home, **passwords)
    services = {f"mysql-{r}": Recorded(chosen, r, log) for r in ("primary", "replica")}
    for service in services.values():
        service.data_dir.mkdir(parents=True, exist_ok=True)
    return services, log


def up(services: dict) -> None:
    # What `stack up` does once the servers are healthy: each one's after_ready, in order.
    for service in services.values():
        service.after_ready(services)


def test_sql_literals_for_passwords_escape_quotes_and_backslashes():
    assert accounts.sql_string("it's \\ ok") == "'it''s \\\\ ok'"
    with pytest.raises(StackError, match="NUL or line breaks"):
        accounts.sql_string("a\nb")


def test_the_primary_script_creates_or_alters_every_account_with_its_password():
    script = accounts.primary_statements("app'pw", "replpw")
    for account in ("'paystream'@'%'", "'paystream'@'localhost'"):
        assert f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY 'app''pw';" in script
        assert f"ALTER USER {account} IDENTIFIED BY 'app''pw';" in script
    assert "ALTER USER 'repl'@'%' IDENTIFIED BY 'replpw';" in script
    assert "'paystream'" not in script.replace("'paystream'@", "")  # no old password anywhere
    assert "repl-local" not in script


def test_a_new_data_directory_gets_the_accounts_and_replication_with_the_new_passwords(tmp_path):
    services, log = pair(tmp_path)
    up(services)
    assert [role for role, _ in log] == ["primary", "replica"]
    primary_sql, replica_sql = log[0][1], log[1][1]
    assert "CREATE DATABASE IF NOT EXISTS paystream" in primary_sql
    assert "IDENTIFIED BY 'app-pw-''quoted''\\\\back'" in primary_sql
    assert "MASTER_HOST='127.0.0.1'" in replica_sql and "MASTER_USE_GTID=slave_pos" in replica_sql
    assert f"MASTER_PASSWORD='{REPL}'" in replica_sql
    # A second `stack up` with the same passwords sends nothing.
    log.clear()
    up(services)
    assert log == []


def test_an_old_checkout_is_migrated_on_its_next_stack_up(tmp_path):
    services, log = pair(tmp_path)
    # What the old bootstrap left: accounts with the fixed passwords, markers reading "ok".
    for name, marker in (("mysql-primary", "bootstrap"), ("mysql-replica", "replication")):
        (services[name].data_dir / f"paystream-{marker}.done").write_text("ok")
    up(services)
    primary_sql, replica_sql = log[0][1], log[1][1]
    assert f"ALTER USER 'repl'@'%' IDENTIFIED BY '{REPL}';" in primary_sql
    # The replica keeps its host and GTID position and only logs in anew.
    assert replica_sql == f"STOP SLAVE;\nCHANGE MASTER TO MASTER_PASSWORD='{REPL}';\nSTART SLAVE;"
    markers = [
        (services["mysql-primary"].data_dir / "paystream-bootstrap.done").read_text(),
        (services["mysql-replica"].data_dir / "paystream-replication.done").read_text(),
    ]
    assert markers == [accounts.digest(APP, REPL), accounts.digest(REPL)]
    assert not any(APP in m or REPL in m for m in markers)


def test_new_passwords_are_given_to_the_accounts_again(tmp_path):
    services, _ = pair(tmp_path)
    up(services)
    rotated, log2 = pair(tmp_path, app="rotated-app", repl="rotated-repl")
    up(rotated)
    assert [role for role, _ in log2] == ["primary", "replica"]
    assert "IDENTIFIED BY 'rotated-app'" in log2[0][1]
    assert log2[1][1].startswith("STOP SLAVE;\nCHANGE MASTER TO MASTER_PASSWORD='rotated-repl'")


def test_the_replica_alone_updates_the_primary_first(tmp_path):
    services, log = pair(tmp_path)
    services["mysql-replica"].after_ready(services)
    assert [role for role, _ in log] == ["primary", "replica"]


def test_without_generated_passwords_nothing_is_sent(tmp_path):
    services, log = pair(tmp_path, app=None)
    with pytest.raises(StackError, match="PAYSTREAM_MYSQL__PASSWORD"):
        up(services)
    assert log == []


def test_stack_up_adopts_passwords_written_after_its_settings_were_read(tmp_path, monkeypatch):
    stack = LocalStack(settings(tmp_path, app=None, repl=None))
    monkeypatch.setenv("PAYSTREAM_MYSQL__PASSWORD", "from-the-file")
    monkeypatch.setenv("PAYSTREAM_MYSQL__REPLICATION_PASSWORD", "from-the-file-too")
    stack._adopt_local_secrets()
    primary = stack.services["mysql-primary"]
    assert isinstance(primary, MariaDB)
    assert accounts.passwords(primary.settings.mysql) == ("from-the-file", "from-the-file-too")
    assert primary.settings.stack.home == tmp_path
