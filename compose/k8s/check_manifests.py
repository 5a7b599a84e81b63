"""Checks for paystream's Kubernetes manifests, driven by ``compose/k8s/validate.sh``.

Subcommands (each prints what it checked and exits non-zero on a failure):

``policy OVERLAY RENDERED``
    Structural rules for a rendered overlay: resources, probes, security contexts, no secret
    values outside Secrets, references that resolve, workers <= partitions, and so on.
``tree K8S_DIR``
    Nothing secret is committed: no Secret manifests, every env file a secretGenerator
    reads is git-ignored and has a committed ``.example``.

The checks against paystream's own code (settings, CLI commands) are in
``scripts/check_k8s_app.py``; ``build_schemas.py`` prepares kubeconform's offline schemas.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from compose.k8s.check_workloads import (
    check_autoscalers,
    check_consumer_groups,
    check_disruption_budgets,
    check_migration_phase,
    check_mlflow_auth,
    check_services,
    check_spark_jobs,
)
from compose.k8s.objects import (
    HASHED,
    NAMESPACE,
    Obj,
    Report,
    config_data,
    containers,
    load_objects,
    name_of,
    pod_annotations,
    pod_labels,
    pod_spec,
)
from compose.k8s.secrets_tree import check_tree

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
    check_services(report, by_kind, workloads)
    check_autoscalers(report, by_kind, deployments)
    check_disruption_budgets(report, by_kind, workloads)
    check_consumer_groups(report, by_kind, deployments, config)
    check_migration_phase(report, by_kind, objects)
    check_spark_jobs(report, by_kind, config)
    check_mlflow_auth(report, deployments)

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
