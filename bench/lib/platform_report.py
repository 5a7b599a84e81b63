"""Figures and notes of the platform benchmark, from its runs (pure: no I/O)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping

from bench.lib.platform_run import RateResult, RunResult
from bench.lib.platform_stats import (
    BOUND_S,
    EDGE_S,
    GROWTH_FLOOR,
    GROWTH_LIMIT_S,
    MAX_ERROR_SHARE,
    MIN_OFFERED_SHARE,
    SLIP_LIMIT_MS,
    Latency,
    highest_sustained,
    lag_growth,
    lag_summary,
)
from bench.lib.record import Figure
from bench.lib.stats import percentile

#: The rate whose CPU per payment is the published figure.
CPU_FIGURE_RATE = 500.0
BROKER_REF = "broker produce-to-consume round trip p99 (scratch topic, under the load), same run"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _p(values: list[float], q: float) -> float:
    return percentile(values, q) if values else 0.0


def _per_rate(runs: list[RunResult], rate: float) -> list[RateResult]:
    return [run.rates[rate] for run in runs if rate in run.rates]


def figures(runs: list[RunResult], rates: list[float], command: str) -> list[Figure]:
    """The published figures: visibility p99 per rate, the sustained rate, CPU per payment."""
    out: list[Figure] = []
    for kind, attr, target in (
        ("decision_visible", "decision_ms", "<= 100"),
        ("replica_visible", "replica_ms", "<= 500"),
    ):
        for rate in rates:
            results = _per_rate(runs, rate)
            out.append(
                Figure(
                    f"platform.{kind}_p99_ms_at_{rate:.0f}",
                    "ms",
                    [Latency.of(getattr(r, attr)).p99 for r in results],
                    command,
                    BROKER_REF,
                    [_p(r.broker_ms, 99) for r in results],
                    target,
                    higher_is_better=False,
                )
            )
    out.append(
        Figure(
            "platform.sustained_payments_per_s",
            "payments/s",
            [highest_sustained({r: run.rates[r].verdict for r in run.rates}) for run in runs],
            command,
            target=">= 1000",
        )
    )
    if CPU_FIGURE_RATE in rates:
        out.append(
            Figure(
                "platform.cpu_ms_per_event",
                "CPU ms/payment",
                [_total_ms_per_payment(r) for r in _per_rate(runs, CPU_FIGURE_RATE)],
                command,
                target="<= 0.5",
                higher_is_better=False,
            )
        )
    return out


def _total_ms_per_payment(result: RateResult) -> float:
    spent = sum(sum(labels.values()) for labels in result.cpu.values())
    return spent * 1000 / result.sent if result.sent else 0.0


#: Services shown as one row: their processes' split says nothing about the payments.
COLLAPSED = frozenset({"mlflow"})
ALL = "all processes"


def _rows(runs: list[RunResult]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for run in runs:
        for result in [*run.rates.values()]:
            for service, labels in result.cpu.items():
                for name in labels:
                    seen[(service, ALL if service in COLLAPSED else name)] = None
    return sorted(seen)


def _cpu(spent: dict[str, dict[str, float]], service: str, name: str) -> float:
    labels = spent.get(service, {})
    return sum(labels.values()) if name == ALL else labels.get(name, 0.0)


def _others_s_per_s(cpu: dict[str, dict[str, float]], own: float, machine: float) -> float:
    platform = sum(sum(labels.values()) for labels in cpu.values())
    return max(0.0, machine - platform - own)


def cpu_table(runs: list[RunResult], rates: list[float]) -> str:
    """CPU ms per payment per process and rate (medians over runs), idle CPU ms/s beside."""
    header = "| process | idle (ms/s) | " + " | ".join(f"{r:,.0f}/s" for r in rates) + " |"
    lines = [header, "| --- | --- | " + " | ".join("---" for _ in rates) + " |"]
    for service, name in _rows(runs):
        idle = [_cpu(run.idle_cpu, service, name) * 1000 / run.idle_s for run in runs if run.idle_s]
        cells = []
        for rate in rates:
            per = [
                _cpu(r.cpu, service, name) * 1000 / r.sent for r in _per_rate(runs, rate) if r.sent
            ]
            cells.append(f"{_median(per):.3f}")
        lines.append(f"| {service} · {name} | {_median(idle):.1f} | " + " | ".join(cells) + " |")
    for title, service_filter in (
        ("**platform total**", None),
        ("of which stream workers + risk agent + API", {"streams", "risk", "api"}),
    ):
        idle = [_summed_ms(run.idle_cpu, service_filter) / run.idle_s for run in runs if run.idle_s]
        cells = []
        for rate in rates:
            per = [
                _summed_ms(r.cpu, service_filter) / r.sent for r in _per_rate(runs, rate) if r.sent
            ]
            cells.append(f"{_median(per):.3f}")
        lines.append(f"| {title} | {_median(idle):.1f} | " + " | ".join(cells) + " |")
    own_idle = [run.idle_own_cpu_s * 1000 / run.idle_s for run in runs if run.idle_s]
    own = [
        f"{_median([r.own_cpu_s * 1000 / r.sent for r in _per_rate(runs, rate) if r.sent]):.3f}"
        for rate in rates
    ]
    lines.append(
        f"| load generator + pollers (not in the total) | {_median(own_idle):.1f} | "
        + " | ".join(own)
        + " |"
    )
    others_idle = [
        _others_s_per_s(run.idle_cpu, run.idle_own_cpu_s, run.idle_machine_cpu_s)
        * 1000
        / run.idle_s
        for run in runs
        if run.idle_s
    ]
    others = [
        _median(
            [
                _others_s_per_s(r.cpu, r.own_cpu_s, r.machine_cpu_s) * 1000 / r.sent
                for r in _per_rate(runs, rate)
                if r.sent
            ]
        )
        for rate in rates
    ]
    lines.append(
        f"| everything else on the machine (noise; not in the total) | {_median(others_idle):.1f} "
        "| " + " | ".join(f"{v:.3f}" for v in others) + " |"
    )
    return "\n".join(lines)


def latency_table(runs: list[RunResult], rates: list[float]) -> str:
    """Per rate, pooled over runs: visibility, intake and broker percentiles, and counts."""
    lines = [
        "| rate | payments (sent / scheduled) | not accepted | decision visible p50 / p99 / "
        "p99.9 ms | replica visible p50 / p99 / p99.9 ms | POST p50 / p99 ms | after the 202: "
        "decision, replica p50 / p99 ms | broker RT p50 / p99 ms | send slip p99 ms | never "
        "visible (decision, replica) | sustained |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rate in rates:
        results = _per_rate(runs, rate)
        pooled: dict[str, list[float]] = defaultdict(list)
        for r in results:
            for attr in (
                "decision_ms",
                "replica_ms",
                "intake_ms",
                "broker_ms",
                "slip_ms",
                "decision_after_202_ms",
                "replica_after_202_ms",
            ):
                pooled[attr] += getattr(r, attr)
        sent = sum(r.sent for r in results)
        scheduled = sum(r.scheduled for r in results)
        errors = sum(r.errors for r in results)
        sustained = sum(r.verdict.sustained for r in results)
        lines.append(
            f"| {rate:,.0f}/s | {sent:,} / {scheduled:,} | {errors:,} | "
            f"{Latency.of(pooled['decision_ms']).describe()} | "
            f"{Latency.of(pooled['replica_ms']).describe()} | "
            f"{_p(pooled['intake_ms'], 50):.1f} / {_p(pooled['intake_ms'], 99):.1f} | "
            f"{_p(pooled['decision_after_202_ms'], 50):.1f} / "
            f"{_p(pooled['decision_after_202_ms'], 99):.1f}, "
            f"{_p(pooled['replica_after_202_ms'], 50):.1f} / "
            f"{_p(pooled['replica_after_202_ms'], 99):.1f} | "
            f"{_p(pooled['broker_ms'], 50):.1f} / {_p(pooled['broker_ms'], 99):.1f} | "
            f"{_p(pooled['slip_ms'], 99):.1f} | "
            f"{sum(r.missing_decision for r in results):,}, "
            f"{sum(r.missing_replica for r in results):,} | "
            f"{sustained} of {len(results)} runs |"
        )
    return "\n".join(lines)


def lag_table(runs: list[RunResult], rates: list[float]) -> str:
    """Per rate and group: lag at the window's start and end, its peak and growth (medians)."""
    lines = [
        "| rate | group | start | end | max | growth (last − first 10 s medians) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for rate in rates:
        results = _per_rate(runs, rate)
        groups = sorted({g for r in results for g in r.lag})
        for group in groups:
            cells = [lag_summary(r.lag.get(group, [])) for r in results]
            growth = [lag_growth(r.lag.get(group, []), r.window_s) for r in results]
            lines.append(
                f"| {rate:,.0f}/s | {group} | {_median([c[0] for c in cells]):,.0f} | "
                f"{_median([c[1] for c in cells]):,.0f} | {_median([c[2] for c in cells]):,.0f} "
                f"| {_median(growth):+,.0f} |"
            )
    return "\n".join(lines)


def http_check(runs: list[RunResult], rates: list[float]) -> str:
    """The sampled payments, timed through the GET endpoints beside the store-side polls."""
    parts = []
    for rate in rates:
        risk_http, risk_store, pay_http, pay_store = [], [], [], []
        for r in _per_rate(runs, rate):
            for pid, ms in r.http.risk_ms.items():
                if pid in r.store_decision:
                    risk_http.append(ms)
                    risk_store.append(r.store_decision[pid])
            for pid, ms in r.http.payment_ms.items():
                if pid in r.store_replica:
                    pay_http.append(ms)
                    pay_store.append(r.store_replica[pid])
        if not risk_http and not pay_http:
            continue
        diff_risk = [h - s for h, s in zip(risk_http, risk_store, strict=True)]
        diff_pay = [h - s for h, s in zip(pay_http, pay_store, strict=True)]
        parts.append(
            f"{rate:,.0f}/s: `GET …/risk` {len(risk_http)} payments, p50 {_p(risk_http, 50):.1f} /"
            f" p99 {_p(risk_http, 99):.1f} ms over HTTP against {_p(risk_store, 50):.1f} / "
            f"{_p(risk_store, 99):.1f} ms store-side (median difference "
            f"{_median(diff_risk):+.1f} ms); `GET /v1/payments/{{id}}` {len(pay_http)} payments, "
            f"{_p(pay_http, 50):.1f} / {_p(pay_http, 99):.1f} ms against "
            f"{_p(pay_store, 50):.1f} / {_p(pay_store, 99):.1f} ms (median difference "
            f"{_median(diff_pay):+.1f} ms); "
            f"{_median([float(r.http.polls) for r in _per_rate(runs, rate)]):,.0f} GETs a run"
        )
    return "; ".join(parts) if parts else "no payment was sampled"


def reads_summary(runs: list[RunResult], rates: list[float]) -> str:
    """The concurrent read load's latencies and answers per rate."""
    parts = []
    for rate in rates:
        latency: dict[str, list[float]] = defaultdict(list)
        statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for r in _per_rate(runs, rate):
            for name, values in r.reads.latency_ms.items():
                latency[name] += values
            for name, counts in r.reads.statuses.items():
                for status, n in counts.items():
                    statuses[name][status] += n
        cells = [
            f"{name} p50 {_p(values, 50):.1f} / p99 {_p(values, 99):.1f} ms, answers "
            + ", ".join(f"{s}×{n:,}" for s, n in sorted(statuses[name].items()))
            for name, values in sorted(latency.items())
        ]
        if cells:
            parts.append(f"{rate:,.0f}/s: " + "; ".join(cells))
    return "; ".join(parts) if parts else "no reads in the windows"


def stages_summary(runs: list[RunResult], rates: list[float]) -> str:
    """The risk agent's stage histogram per rate (medians over runs of p50 / p99, ms)."""
    parts = []
    for rate in rates:
        per: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in _per_rate(runs, rate):
            for stage, (p50, p99, _n) in r.stages.items():
                per[stage].append((p50, p99))
        if per:
            parts.append(
                f"{rate:,.0f}/s: "
                + "; ".join(
                    f"{stage} {_median([a for a, _ in v]):.2f} / {_median([b for _, b in v]):.2f}"
                    for stage, v in per.items()
                )
            )
    return " — ".join(parts) if parts else "not scraped"


def verdicts(runs: list[RunResult], rates: list[float]) -> str:
    """Why a rate was not sustained, per run (empty when every rate was)."""
    lines = []
    for n, run in enumerate(runs, 1):
        for rate in rates:
            r = run.rates.get(rate)
            if r is not None and not r.verdict.sustained:
                lines.append(f"run {n} at {rate:,.0f}/s: " + "; ".join(r.verdict.reasons))
            if r is not None and any(r.restarts.values()):
                lines.append(f"run {n} at {rate:,.0f}/s: keeper restarts {r.restarts}")
            if r is not None and not r.drained:
                lines.append(
                    f"run {n} at {rate:,.0f}/s: lag had not drained after {r.drain_s:.0f} s"
                )
    return "\n".join(f"- {line}" for line in lines)


def definition() -> str:
    """The rule behind ``platform.sustained_payments_per_s``, for the notes."""
    return (
        f"A rate is sustained when in its window the generator sent at least "
        f"{MIN_OFFERED_SHARE:.0%} of the scheduled payments, 99 % of them at most "
        f"{SLIP_LIMIT_MS:g} ms late, at most {MAX_ERROR_SHARE:.0%} of posts were not accepted, "
        f"every payment became visible (decision and replica) before the benchmark stopped "
        f"waiting, and for every consumer group the median lag of the window's last "
        f"{EDGE_S:.0f} s is at most {GROWTH_LIMIT_S:g} s of input (rate × {GROWTH_LIMIT_S:g} "
        f"records, {GROWTH_FLOOR} at least) above the median of its first {EDGE_S:.0f} s, with "
        f"no sample above {BOUND_S:g} s of input; lag is records not yet committed over the "
        f"topics the group reads, sampled every second. The API's intake counts as a group "
        f"whose lag is the posts sent and not yet answered, so an API that cannot take the "
        f"rate fails it even when everything behind it keeps up. The figure is, per run, the "
        f"highest rate sustained."
    )


def polls_summary(runs: list[RunResult], rates: list[float]) -> str:
    """How hard the store-side pollers leaned on Redis and the replica, per rate."""
    parts = []
    for rate in rates:
        results = _per_rate(runs, rate)
        if not results:
            continue
        r_polls = sum(r.polls[0][0] for r in results)
        r_ids = sum(r.polls[0][1] for r in results)
        m_polls = sum(r.polls[1][0] for r in results)
        m_ids = sum(r.polls[1][1] for r in results)
        parts.append(
            f"{rate:,.0f}/s: Redis {r_polls / len(results):,.0f} polls a run of "
            f"{r_ids / max(1, r_polls):,.0f} keys on average, replica "
            f"{m_polls / len(results):,.0f} queries of {m_ids / max(1, m_polls):,.0f} ids"
        )
    return "; ".join(parts)


def _summed_ms(cpu: Mapping[str, Mapping[str, float]], services: set[str] | None) -> float:
    """CPU milliseconds of every process of ``services`` (None: all) in a CPU sample."""
    return 1000 * sum(
        sum(by_process.values())
        for service, by_process in cpu.items()
        if services is None or service in services
    )
