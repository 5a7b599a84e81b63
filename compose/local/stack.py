"""``paystream stack up | down | status | logs``: the whole stack as local processes.

``up`` installs what is missing (apt packages, jars from Maven Central), starts every service
that is not already running, waits for each health check and wires replication. A second
``up`` changes nothing. ``down`` stops only the processes ``up`` recorded in its pid files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from compose.local import install
from compose.local.pipeline_service import PIPELINE
from compose.local.process import (
    PidFile,
    StackError,
    port_in_use,
    port_owner,
    spawn,
    tail,
    terminate,
)
from compose.local.secrets import ensure_local_secrets
from compose.local.services import Service, all_services
from compose.local.spark_cluster import CLUSTER
from paystream.settings import LOCAL_SECRETS_FILE, Settings, load_settings

Report = Callable[[str], None]


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``stack status``."""

    name: str
    port: int
    pid: int | None
    state: str  # healthy | starting | stopped | foreign
    restarts: int | None = None  # kept services only: restarts after a crash


class LocalStack:
    """The local process stack for one checkout."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.stack.home
        self.cache = settings.stack.cache
        self.services = {s.name: s for s in all_services(settings)}

    def pid_file(self, service: Service) -> PidFile:
        """Pid file of ``service``."""
        return PidFile(self.home / "run", service.name)

    def select(self, names: list[str] | None, extra: list[str] | None = None) -> list[Service]:
        """Services by name, validating the names.

        With no ``names``: every service that is not optional, plus the optional ones named
        in ``extra`` (``stack up --with sql --with spark-cluster``).
        """
        # A group name stands for its services (spark-cluster: the master and a worker;
        # pipeline: the stream workers and the risk agent).
        groups = {"spark-cluster": CLUSTER, "pipeline": PIPELINE}
        extra = [n for e in (extra or []) for n in groups.get(e, (e,))]
        if not names:
            names = [n for n, s in self.services.items() if not s.optional or n in extra]
            if extra:
                self.select(extra)  # validates the optional names
        unknown = [n for n in names if n not in self.services]
        if unknown:
            raise StackError(
                f"unknown service(s) {', '.join(unknown)}; known: {', '.join(self.services)}"
            )
        return [self.services[n] for n in names]

    # -- install ----------------------------------------------------------------------

    def install(self, report: Report, services: list[Service]) -> None:
        """Install tools and jars that are missing; a no-op when all are present."""
        tools = sorted({t for s in services for t in s.tools} | {"ss", "java"})
        installed = install.ensure_tools(tools, self.home / "logs" / "apt.log")
        if installed:
            report(f"installed from apt: {', '.join(installed)}")
        for component in install.MAVEN_COMPONENTS:
            if install.jars_ready(self.cache, component):
                continue
            report(f"fetching {component} jars from Maven Central (mvn)")
            install.fetch_jars(self.cache, component, self.home / "logs" / f"mvn-{component}.log")

    # -- up / down ----------------------------------------------------------------------

    def up(
        self, report: Report, names: list[str] | None = None, extra: list[str] | None = None
    ) -> list[str]:
        """Start every selected service that is not running; return the ones started."""
        self.select(names, extra)  # unknown names fail before anything is written
        for directory in ("run", "logs", "conf", "data"):
            (self.home / directory).mkdir(parents=True, exist_ok=True)
        for name in ensure_local_secrets():
            report(f"generated {name} into {LOCAL_SECRETS_FILE}")
        self._adopt_local_secrets()
        selected = self.select(names, extra)
        self.install(report, selected)

        to_start: list[Service] = []
        for service in selected:
            if self.pid_file(service).alive():
                continue
            if port_in_use(service.port):
                raise StackError(
                    f"port {service.port} needed by {service.name} is already taken by "
                    f"{port_owner(service.port)}; stop that process or set "
                    f"{_port_setting(service)} to another port"
                )
            to_start.append(service)

        for service in to_start:
            service.prepare()
            pid = spawn(
                service.name,
                service.argv(),
                service.log_path,
                self.pid_file(service),
                env=service.env(),
            )
            report(f"started {service.name} (pid {pid}, port {service.port})")

        self._wait_healthy(selected, report)
        for service in selected:
            service.after_ready(self.services)
        # The replica only reports healthy once replication runs; check again after wiring.
        self._wait_healthy(selected, report)
        return [s.name for s in to_start]

    def _adopt_local_secrets(self) -> None:
        # Settings read before .stack/secrets.env held the MariaDB passwords lack them, and
        # the accounts are given exactly what every later process will read from that file.
        mysql = self.settings.mysql
        if mysql.password is not None and mysql.replication_password is not None:
            return
        fresh = load_settings().mysql
        update = {
            "password": mysql.password or fresh.password,
            "replication_password": mysql.replication_password or fresh.replication_password,
        }
        self.settings = self.settings.model_copy(update={"mysql": mysql.model_copy(update=update)})
        self.services = {s.name: s for s in all_services(self.settings)}

    def _wait_healthy(self, services: list[Service], report: Report) -> None:
        pending = {s.name: s for s in services}
        started = time.monotonic()
        while pending:
            for name, service in list(pending.items()):
                if service.healthy():
                    del pending[name]
                    continue
                if not self.pid_file(service).alive():
                    raise StackError(
                        f"{name} exited during start-up; last log lines "
                        f"({service.log_path}):\n{tail(service.log_path, 15)}"
                    )
                if time.monotonic() - started > service.start_timeout_s:
                    raise StackError(
                        f"{name} did not become healthy within {service.start_timeout_s:.0f} s; "
                        f"last log lines ({service.log_path}):\n{tail(service.log_path, 15)}"
                    )
            if pending:
                time.sleep(0.3)
        report(f"healthy after {time.monotonic() - started:.1f} s")

    def down(self, report: Report, names: list[str] | None = None) -> list[str]:
        """Stop the selected services that ``up`` started; return the ones stopped."""
        stopped = []
        # Reverse order: consumers of a service stop before it (replica before primary).
        # With no names, optional services that run are stopped too.
        for service in reversed(self.select(names or list(self.services))):
            pid_file = self.pid_file(service)
            pid = pid_file.alive()
            if pid is not None:
                terminate(pid)
                stopped.append(service.name)
                report(f"stopped {service.name} (pid {pid})")
            pid_file.clear()
        return stopped

    # -- status / logs --------------------------------------------------------------------

    def status(self) -> list[ServiceStatus]:
        """State of every service (the optional ones only when they run)."""
        rows = []
        for service in self.services.values():
            pid = self.pid_file(service).alive()
            if pid is None:
                state = "foreign" if port_in_use(service.port) else "stopped"
            else:
                state = "healthy" if service.healthy() else "starting"
            if service.optional and state == "stopped":
                continue  # not asked for: `stack up --with NAME` starts it
            kept = getattr(service, "restarts", None)
            restarts = kept().count if kept is not None and pid is not None else None
            rows.append(ServiceStatus(service.name, service.port, pid, state, restarts))
        return rows

    def logs(self, name: str, lines: int) -> str:
        """Last ``lines`` lines of one service's log."""
        return tail(self.select([name])[0].log_path, lines)


def _port_setting(service: Service) -> str:
    if service.name == "sql":
        return "PAYSTREAM_SQL__PORT"
    field = service.name.replace("-", "_").upper()
    if service.name in PIPELINE:
        return f"PAYSTREAM_STACK__{field}_METRICS_PORT"
    return f"PAYSTREAM_STACK__{field}_PORT"
