import socket

import pytest

from compose.local.process import StackError
from compose.local.stack import LocalStack
from paystream.settings import StackSettings


def test_all_services_report_healthy_with_their_ports(stack, settings):
    rows = {row.name: row for row in stack.status()}
    core = {"redis", "mysql-primary", "mysql-replica", "kafka", "gremlin", "mlflow"}
    # Optional services (the SQL endpoint, the pipeline) are listed only while they run.
    assert core <= set(rows)
    assert all(stack.services[name].optional for name in set(rows) - core)
    assert {rows[name].state for name in core} == {"healthy"}
    assert rows["mysql-replica"].port == settings.stack.mysql_replica_port
    assert all(row.pid for row in rows.values())


def test_a_second_up_is_idempotent(stack):
    pids_before = {row.name: row.pid for row in stack.status()}
    started = stack.up(lambda line: None)
    assert started == []
    assert {row.name: row.pid for row in stack.status()} == pids_before


def test_a_taken_port_stops_up_with_a_message_naming_it(stack, settings, tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        other = settings.model_copy(
            update={
                "stack": StackSettings(
                    home=tmp_path / "stack", cache=settings.stack.cache, redis_port=port
                )
            }
        )
        with pytest.raises(StackError, match=f"port {port} needed by redis is already taken"):
            LocalStack(other).up(lambda line: None, ["redis"])


def test_down_only_touches_what_up_recorded(stack, settings, tmp_path):
    # A fresh stack home has no pid files: down must not stop the running services.
    other = settings.model_copy(
        update={"stack": StackSettings(home=tmp_path / "stack", cache=settings.stack.cache)}
    )
    assert LocalStack(other).down(lambda line: None) == []
    assert {row.state for row in stack.status()} == {"healthy"}


def test_unknown_service_names_are_refused(stack):
    with pytest.raises(StackError, match="unknown service"):
        stack.select(["postgres"])


def test_down_stops_a_service_and_up_brings_it_back(stack, settings):
    from compose.local.process import port_in_use

    assert stack.down(lambda line: None, ["redis"]) == ["redis"]
    assert not port_in_use(settings.stack.redis_port)
    assert stack.up(lambda line: None, ["redis"]) == ["redis"]
    assert {row.state for row in stack.status()} == {"healthy"}
