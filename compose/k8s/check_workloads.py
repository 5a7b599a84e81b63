"""Rules across a rendered overlay's workloads, part of ``check_manifests.py policy``:
Services select pods, autoscalers and disruption budgets fit their targets, consumer groups
never outnumber partitions, MLflow asks for a login, migrations run before the rollout, and
Spark CronJobs go through ``spark/submit.sh``."""

from __future__ import annotations

from compose.k8s.objects import (
    NAMESPACE,
    Obj,
    Report,
    containers,
    name_of,
    pod_labels,
    pod_spec,
    selects,
)

# Deployments that are members of one Kafka consumer group each: a partition goes to one
# member only, so replicas (plus rollout surge) must not exceed the partition count.
CONSUMER_GROUPS = ("streams-ledger", "streams-redis", "streams-graph", "risk-agent")
# CronJobs labelled so run Spark through spark/submit.sh; the overlays' driver patches select
# them by this label.
SPARK_LABEL = ("paystream.io/spark", "submit")
SUBMIT = "spark/submit.sh"
# CLI commands that start a Spark session (paystream/stores/spark.py build_spark).
SPARK_COMMANDS = (
    "lakehouse build",
    "lakehouse optimize",
    "lakehouse vacuum",
    "lakehouse spark-sql",
    "lakehouse run",
    "train recommender",
)


def check_services(report: Report, by_kind: dict[str, list[Obj]], workloads: list[Obj]) -> None:
    # Services: a selector that finds pods, a target port they declare, readiness probes.
    for service in by_kind.get("Service", []):
        where = name_of(service)
        selector = service["spec"].get("selector", {})
        targets = [o for o in workloads if selects(selector, pod_labels(o))]
        report.require(bool(targets), f"{where}: selector matches no pod template")
        for target in targets:
            spec = pod_spec(target) or {}
            for port in service["spec"].get("ports", []):
                target_port = port.get("targetPort", port["port"])
                serving = [
                    c
                    for c in containers(spec)
                    for p in c.get("ports", []) or []
                    if target_port in (p.get("name"), p["containerPort"])
                ]
                report.require(bool(serving), f"{where}: targetPort {target_port} not declared")
                for container in serving:
                    report.require(
                        "readinessProbe" in container,
                        f"{where}: {name_of(target)} serves it without a readinessProbe",
                    )


def check_autoscalers(
    report: Report, by_kind: dict[str, list[Obj]], deployments: dict[str, Obj]
) -> None:
    # HPA: its target exists and leaves the replica count to the HPA.
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        where = name_of(hpa)
        spec = hpa["spec"]
        scaled = deployments.get(spec["scaleTargetRef"]["name"])
        report.require(scaled is not None, f"{where}: scale target missing")
        if scaled is not None:
            report.require(
                "replicas" not in scaled["spec"],
                f"{where}: {name_of(scaled)} sets replicas, fighting the HPA",
            )
        report.require(
            spec.get("minReplicas", 1) <= spec["maxReplicas"], f"{where}: min > max replicas"
        )
        report.require(
            any(
                m.get("resource", {}).get("name") == "cpu"
                and m["resource"]["target"].get("type") == "Utilization"
                for m in spec.get("metrics", [])
            ),
            f"{where}: no CPU utilization target",
        )


def check_disruption_budgets(
    report: Report, by_kind: dict[str, list[Obj]], workloads: list[Obj]
) -> None:
    # PodDisruptionBudgets select something.
    for pdb in by_kind.get("PodDisruptionBudget", []):
        selector = pdb["spec"]["selector"].get("matchLabels", {})
        report.require(
            any(selects(selector, pod_labels(o)) for o in workloads),
            f"{name_of(pdb)}: selector matches no workload",
        )


def check_consumer_groups(
    report: Report,
    by_kind: dict[str, list[Obj]],
    deployments: dict[str, Obj],
    config: dict[str, str],
) -> None:
    # Consumer-group members: replicas (plus any rollout surge) never exceed the partitions.
    partitions = int(config.get("PAYSTREAM_KAFKA__PARTITIONS", "6"))
    for name in CONSUMER_GROUPS:
        members = deployments.get(name)
        report.require(members is not None, f"Deployment/{name} missing")
        if members is None:
            continue
        replicas = int(members["spec"].get("replicas", 1))
        rolling = members["spec"].get("strategy", {}).get("rollingUpdate", {})
        surge = rolling.get("maxSurge", "25%")
        surge_pods = -(-replicas * int(surge[:-1]) // 100) if isinstance(surge, str) else int(surge)
        report.require(
            replicas + surge_pods <= partitions,
            f"{name}: {replicas} replicas + surge {surge_pods} > {partitions} partitions",
        )
        report.require(
            any(
                selects(p["spec"]["selector"].get("matchLabels", {}), pod_labels(members))
                for p in by_kind.get("PodDisruptionBudget", [])
            ),
            f"{name}: no PodDisruptionBudget",
        )
        print(f"  {name}: {replicas} replica(s), surge {surge_pods}, {partitions} partitions")


def check_mlflow_auth(report: Report, deployments: dict[str, Obj]) -> None:
    # Loading a registered model runs it: MLflow must not answer anyone without a password.
    server = deployments.get("mlflow")
    if server is None:
        return
    spec = pod_spec(server) or {}
    for container in containers(spec):
        argv = [*container.get("command", []), *container.get("args", [])]
        env = {e["name"]: e for e in container.get("env", []) or []}
        report.require(
            "--app-name=basic-auth" in argv, "mlflow: the server must run --app-name=basic-auth"
        )
        for name in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
            report.require(
                "secretKeyRef" in (env.get(name, {}).get("valueFrom") or {}),
                f"mlflow: {name} must come from a Secret",
            )


def check_migration_phase(
    report: Report, by_kind: dict[str, list[Obj]], objects: list[Obj]
) -> None:
    # Phase 1 of a rollout (-l paystream.io/deploy-phase=pre) must carry all the migration
    # Job needs: the Namespace, its ServiceAccount, ConfigMaps and Secrets.
    migrate = next(
        (o for o in by_kind.get("Job", []) if o["metadata"]["name"] == "ledger-migrate"), None
    )
    report.require(migrate is not None, "Job/ledger-migrate missing")
    if migrate is not None:
        spec = pod_spec(migrate) or {}
        needed = [("Job", "ledger-migrate"), ("Namespace", NAMESPACE)]
        needed.append(("ServiceAccount", spec.get("serviceAccountName", "default")))
        for container in containers(spec):
            report.require(
                container.get("command", [])[:3] == ["paystream", "db", "upgrade"],
                "Job/ledger-migrate does not run `paystream db upgrade`",
            )
            for source in container.get("envFrom", []):
                for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    if key in source:
                        needed.append((kind, source[key]["name"]))
        phase = {
            (o["kind"], o["metadata"]["name"])
            for o in objects
            if o["metadata"].get("labels", {}).get("paystream.io/deploy-phase") == "pre"
        }
        for item in needed:
            report.require(item in phase, f"{item[0]}/{item[1]}: not labelled deploy-phase=pre")


def check_spark_jobs(report: Report, by_kind: dict[str, list[Obj]], config: dict[str, str]) -> None:
    # Spark CronJobs submit to the master from the ConfigMap, and carry the label the
    # overlays' driver patches select them by; the others must not (the patch would add a
    # `spark-driver` container to them).
    for cron in by_kind.get("CronJob", []):
        spec = pod_spec(cron) or {}
        command = " ".join(
            " ".join(c.get("command", []) + c.get("args", [])) for c in containers(spec)
        )
        labelled = cron["metadata"].get("labels", {}).get(SPARK_LABEL[0]) == SPARK_LABEL[1]
        submits = SUBMIT in command
        report.require(
            labelled == submits,
            f"{name_of(cron)}: label {SPARK_LABEL[0]}={SPARK_LABEL[1]} iff it runs {SUBMIT}",
        )
        report.require(
            submits or not any(c in command for c in SPARK_COMMANDS),
            f"{name_of(cron)}: runs a Spark command without {SUBMIT}",
        )
        if submits:
            report.require(
                all(c["name"] == "spark-driver" for c in containers(spec)),
                f"{name_of(cron)}: the Spark driver container must be named spark-driver",
            )
    report.require(
        bool(config.get("PAYSTREAM_LAKEHOUSE__SPARK_MASTER")),
        "paystream-config has no PAYSTREAM_LAKEHOUSE__SPARK_MASTER",
    )
