"""Checks for paystream's Kubernetes manifests, driven by ``compose/k8s/validate.sh``.

Subcommands (each prints what it checked and exits non-zero on a failure):

``policy OVERLAY RENDERED``
    Structural rules for a rendered overlay: resources, probes, security contexts, no secret
    values outside Secrets, references that resolve, workers <= partitions, and so on.
``tree K8S_DIR``
    Nothing secret is committed: no Secret manifests, every env file a secretGenerator
    reads is git-ignored and has a committed ``.example``.

The checks against paystream's own code (settings, CLI commands) are in ``check_app.py``;
``build_schemas.py`` prepares kubeconform's offline schemas.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from compose.k8s.objects import (
    HASHED,
    Obj,
    Report,
    config_data,
    containers,
    load_objects,
    name_of,
    pod_annotations,
    pod_labels,
    pod_spec,
    selects,
)
from compose.k8s.secrets_tree import check_tree

NAMESPACE = "paystream"
WORKLOAD_KINDS = ("Deployment", "Job", "CronJob")
# Where pods with a read-only root filesystem must get a writable emptyDir (a mount path in
# pod specs, not a temporary file of this script).
SCRATCH_DIR = "/tmp"  # noqa: S108
# Settings that hold credentials: they belong in a Secret, never in a ConfigMap or a manifest.
SECRET_SETTINGS = {
    "PAYSTREAM_KAFKA__CONNECTION_STRING",
    "PAYSTREAM_MYSQL__PRIMARY_URL",
    "PAYSTREAM_MYSQL__REPLICA_URL",
    "PAYSTREAM_REDIS__URL",
    "PAYSTREAM_GREMLIN__PASSWORD",
    "PAYSTREAM_API__JWT_SECRET",
    "PAYSTREAM_API__KEY_PEPPER",
    "AZURE_STORAGE_CONNECTION_STRING",
}
# (MLFLOW_BACKEND_STORE_URI is not listed: the base's SQLite path is no credential. A
# user:password@ in it, or in any other value, is caught by SECRET_VALUE below.)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PEPPER|CONNECTION_STRING|ACCESS_KEY|ACCOUNT_KEY")
# user:password@ inside a URL, or a key=value credential inside a connection string.
SECRET_VALUE = re.compile(r"://[^/@\s:]*:[^/@\s]+@|(?i:AccountKey|SharedAccessKey)=[^;<\s]")
PLACEHOLDER = re.compile(r"<[a-z][a-z0-9-]*>")
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
    "train recommender",
)


# --------------------------------------------------------------------------- policy


def check_pod(report: Report, obj: Obj, spec: Obj, overlay: str) -> None:
    where = name_of(obj)
    security = spec.get("securityContext", {})
    report.require(security.get("runAsNonRoot") is True, f"{where}: pod runAsNonRoot is not true")
    report.require(
        security.get("seccompProfile", {}).get("type") == "RuntimeDefault",
        f"{where}: pod seccompProfile is not RuntimeDefault",
    )
    report.require(
        spec.get("automountServiceAccountToken") is False,
        f"{where}: automountServiceAccountToken is not false",
    )
    if obj["kind"] in ("Job", "CronJob"):
        job = obj["spec"] if obj["kind"] == "Job" else obj["spec"]["jobTemplate"]["spec"]
        report.require(
            spec.get("restartPolicy") in ("Never", "OnFailure"),
            f"{where}: restartPolicy must be Never or OnFailure",
        )
        report.require("backoffLimit" in job, f"{where}: no backoffLimit")
        report.require("activeDeadlineSeconds" in job, f"{where}: no activeDeadlineSeconds")
    volumes = {v["name"]: v for v in spec.get("volumes", []) or []}
    for container in containers(spec):
        here = f"{where} container {container['name']}"
        resources = container.get("resources", {})
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                report.require(
                    resource in resources.get(section, {}),
                    f"{here}: no resources.{section}.{resource}",
                )
        csc = container.get("securityContext", {})
        report.require(
            csc.get("allowPrivilegeEscalation") is False,
            f"{here}: allowPrivilegeEscalation is not false",
        )
        report.require(
            "ALL" in csc.get("capabilities", {}).get("drop", []),
            f"{here}: capabilities do not drop ALL",
        )
        report.require(
            csc.get("readOnlyRootFilesystem") is True, f"{here}: root filesystem is writable"
        )
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", []) or []}
        report.require(
            SCRATCH_DIR in mounts and "emptyDir" in volumes.get(mounts[SCRATCH_DIR], {}),
            f"{here}: read-only root filesystem but no emptyDir at {SCRATCH_DIR}",
        )
        for mount_name in mounts.values():
            report.require(mount_name in volumes, f"{here}: mounts undefined volume {mount_name}")
        image = container.get("image", "")
        report.require(
            image != "paystream:latest", f"{here}: base placeholder image paystream:latest"
        )
        if overlay != "local":
            report.require(
                ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"),
                f"{here}: image {image!r} must pin a tag other than latest",
            )
        for env in container.get("env", []) or []:
            if "value" in env:
                report.require(
                    not SECRET_NAME.search(env["name"]) and env["name"] not in SECRET_SETTINGS,
                    f"{here}: env {env['name']} holds a literal value; use a secretKeyRef",
                )
                report.require(
                    not SECRET_VALUE.search(str(env["value"])),
                    f"{here}: env {env['name']} looks like an inline credential",
                )
        if obj["kind"] == "Deployment":
            report.require(
                "livenessProbe" in container, f"{here}: Deployment container has no livenessProbe"
            )


def check_references(report: Report, objects: list[Obj]) -> None:
    present = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        where = name_of(obj)
        wanted: list[tuple[str, str, bool]] = []
        account = spec.get("serviceAccountName")
        if account:
            wanted.append(("ServiceAccount", account, False))
        for volume in spec.get("volumes", []) or []:
            if "configMap" in volume:
                wanted.append(("ConfigMap", volume["configMap"]["name"], False))
            if "secret" in volume:
                wanted.append(("Secret", volume["secret"]["secretName"], False))
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                wanted.append(("PersistentVolumeClaim", claim, False))
        for container in containers(spec):
            for source in container.get("envFrom", []) or []:
                for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    if key in source:
                        ref = source[key]
                        wanted.append((kind, ref["name"], bool(ref.get("optional"))))
            for env in container.get("env", []) or []:
                value_from = env.get("valueFrom", {})
                for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    if key in value_from:
                        ref = value_from[key]
                        wanted.append((kind, ref["name"], bool(ref.get("optional"))))
        for kind, name, optional in wanted:
            report.require(
                optional or (kind, name) in present,
                f"{where}: references {kind}/{name}, which the overlay does not render",
            )


def check_policy(overlay: str, rendered: Path) -> int:
    """Check one rendered overlay against the structural rules; 0 when every check passed."""
    objects = load_objects(rendered)
    report = Report()
    by_kind: dict[str, list[Obj]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    deployments = {o["metadata"]["name"]: o for o in by_kind.get("Deployment", [])}
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    config = config_data(objects, "paystream-config")

    _check_objects(report, objects, overlay)
    check_references(report, objects)
    _check_services(report, by_kind, workloads)
    _check_autoscalers(report, by_kind, deployments)
    _check_disruption_budgets(report, by_kind, workloads)
    _check_consumer_groups(report, by_kind, deployments, config)
    _check_migration_phase(report, by_kind, objects)
    _check_spark_jobs(report, by_kind, config)
    _check_mlflow_auth(report, deployments)

    placeholders = sorted(set(PLACEHOLDER.findall(rendered.read_text())))
    if placeholders:
        print(f"  placeholders to fill before applying: {', '.join(placeholders)}")
    kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
    print(f"  {len(objects)} objects: {kinds}")
    for error in report.errors:
        print(f"  FAIL {error}")
    print(f"  policy: {report.checks - len(report.errors)}/{report.checks} checks passed")
    return 1 if report.errors else 0


def _check_objects(report: Report, objects: list[Obj], overlay: str) -> None:
    # Labels and namespace on everything; pod rules; no credentials in ConfigMaps.
    for obj in objects:
        meta = obj["metadata"]
        where = name_of(obj)
        labels = meta.get("labels", {})
        report.require(
            labels.get("app.kubernetes.io/part-of") == "paystream", f"{where}: no part-of label"
        )
        report.require("app.kubernetes.io/name" in labels, f"{where}: no app.kubernetes.io/name")
        if obj["kind"] != "Namespace":
            report.require(
                meta.get("namespace") == NAMESPACE, f"{where}: not in namespace {NAMESPACE}"
            )
        spec = pod_spec(obj)
        if spec is not None:
            template_labels = pod_labels(obj)
            report.require(
                "app.kubernetes.io/name" in template_labels
                and template_labels.get("app.kubernetes.io/part-of") == "paystream",
                f"{where}: pod template lacks the standard labels",
            )
            check_pod(report, obj, spec, overlay)
            annotations = pod_annotations(obj)
            if annotations.get("prometheus.io/scrape") == "true":
                ports = {
                    str(p["containerPort"])
                    for c in containers(spec)
                    for p in c.get("ports", []) or []
                }
                report.require(
                    annotations.get("prometheus.io/port") in ports,
                    f"{where}: prometheus.io/port is not a container port",
                )
        if obj["kind"] == "ConfigMap":
            for key, value in (obj.get("data") or {}).items():
                report.require(
                    key not in SECRET_SETTINGS and not SECRET_NAME.search(key),
                    f"{where}: key {key} is a credential; it belongs in the Secret",
                )
                report.require(
                    not SECRET_VALUE.search(str(value)),
                    f"{where}: key {key} holds what looks like an inline credential",
                )
        if obj["kind"] == "Secret":
            report.require(
                bool(HASHED.search(meta["name"])),
                f"{where}: Secrets must come from a secretGenerator (hashed name)",
            )


def _check_services(report: Report, by_kind: dict[str, list[Obj]], workloads: list[Obj]) -> None:
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


def _check_autoscalers(
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


def _check_disruption_budgets(
    report: Report, by_kind: dict[str, list[Obj]], workloads: list[Obj]
) -> None:
    # PodDisruptionBudgets select something.
    for pdb in by_kind.get("PodDisruptionBudget", []):
        selector = pdb["spec"]["selector"].get("matchLabels", {})
        report.require(
            any(selects(selector, pod_labels(o)) for o in workloads),
            f"{name_of(pdb)}: selector matches no workload",
        )


def _check_consumer_groups(
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


def _check_mlflow_auth(report: Report, deployments: dict[str, Obj]) -> None:
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


def _check_migration_phase(
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


def _check_spark_jobs(
    report: Report, by_kind: dict[str, list[Obj]], config: dict[str, str]
) -> None:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    policy = sub.add_parser("policy")
    policy.add_argument("overlay")
    policy.add_argument("rendered", type=Path)
    tree = sub.add_parser("tree")
    tree.add_argument("k8s_dir", type=Path)
    args = parser.parse_args()
    if args.command == "policy":
        return check_policy(args.overlay, args.rendered)
    return check_tree(args.k8s_dir)


if __name__ == "__main__":
    sys.exit(main())
