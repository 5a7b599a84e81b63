"""Reading rendered Kubernetes manifests: objects, pod specs, labels and a check report.

Shared by ``check_manifests.py`` (structural rules) and ``scripts/check_k8s_app.py`` (rules
against paystream's own settings and commands).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
# Every paystream object lives in this namespace.
NAMESPACE = "paystream"
# kustomize's generators append a 10-character content hash to ConfigMap and Secret names.
HASHED = re.compile(r"-[a-z0-9]{10}$")


def load_objects(path: Path) -> list[Obj]:
    """Every non-empty YAML document of a rendered overlay."""
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def pod_spec(obj: Obj) -> Obj | None:
    """The pod spec of a Deployment, Job or CronJob; None for other kinds."""
    kind = obj.get("kind")
    if kind in ("Deployment", "Job"):
        spec: Obj = obj["spec"]["template"]["spec"]
        return spec
    if kind == "CronJob":
        spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    return None


def pod_labels(obj: Obj) -> dict[str, str]:
    """The labels of a workload's pod template."""
    if obj["kind"] == "CronJob":
        template = obj["spec"]["jobTemplate"]["spec"]["template"]
    else:
        template = obj["spec"]["template"]
    labels: dict[str, str] = template.get("metadata", {}).get("labels", {})
    return labels


def pod_annotations(obj: Obj) -> dict[str, str]:
    """The annotations of a workload's pod template."""
    if obj["kind"] == "CronJob":
        template = obj["spec"]["jobTemplate"]["spec"]["template"]
    else:
        template = obj["spec"]["template"]
    annotations: dict[str, str] = template.get("metadata", {}).get("annotations", {}) or {}
    return annotations


def containers(spec: Obj) -> Iterator[Obj]:
    """Init containers, then containers, of a pod spec."""
    yield from spec.get("initContainers", []) or []
    yield from spec.get("containers", []) or []


def name_of(obj: Obj) -> str:
    """``Kind/name``, as messages name an object."""
    return f"{obj['kind']}/{obj['metadata']['name']}"


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a non-empty label selector matches ``labels``."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def config_data(objects: list[Obj], base_name: str) -> dict[str, str]:
    """The data of the ConfigMap or Secret generated as ``base_name`` (hash suffix or not)."""
    for obj in objects:
        if obj["kind"] not in ("ConfigMap", "Secret"):
            continue
        name = obj["metadata"]["name"]
        if name == base_name or (name.startswith(base_name + "-") and HASHED.search(name)):
            if obj["kind"] == "Secret":
                return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
            return dict(obj.get("data") or {})
    return {}


class Report:
    """Counts checks and collects the messages of those that failed."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.checks = 0

    def require(self, ok: bool, message: str) -> None:
        """Count one check; keep ``message`` when it failed."""
        self.checks += 1
        if not ok:
            self.errors.append(message)
