"""Kubernetes JSON schemas for kubeconform, offline, from the ``kubernetes-validate`` wheel.

``python build_schemas.py WHEEL VERSION OUT`` turns the schemas packaged in the wheel (PyPI)
into a directory kubeconform reads offline: one self-contained schema per kind, named like
kubeconform's default registry (``deployment-apps-v1.json``). Run by ``validate.sh``, once:
the directory is cached under ``.cache/k8s``.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any


def build_schemas(wheel: Path, version: str, out: Path) -> int:
    """Self-contained kubeconform schemas for Kubernetes ``version`` from the wheel."""
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    ref_prefix = "/api/_definitions.json#/$defs/"
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.startswith(prefix) and n.endswith(".json")]
        if not names:
            available = sorted({n.split("/")[2] for n in archive.namelist() if n.count("/") >= 3})
            print(f"no schemas for Kubernetes {version} in {wheel.name}; has: {available}")
            return 1
        definitions: dict[str, Any] = json.loads(archive.read(prefix + "_definitions.json"))[
            "$defs"
        ]

        def rewrite(node: Any, found: list[str]) -> None:
            # "/api/_definitions.json#/$defs/X" -> "#/$defs/X", collecting every X used.
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "$ref" and isinstance(value, str):
                        if value.startswith(ref_prefix):
                            node[key] = "#/$defs/" + value[len(ref_prefix) :]
                        if node[key].startswith("#/$defs/"):
                            found.append(node[key][len("#/$defs/") :])
                    else:
                        rewrite(value, found)
            elif isinstance(node, list):
                for value in node:
                    rewrite(value, found)

        tmp = out.with_name(out.name + ".partial")
        tmp.mkdir(parents=True, exist_ok=True)
        count = 0
        for name in names:
            filename = name.rsplit("/", 1)[1]
            if filename.startswith("_") or filename == "all.json":
                continue
            schema = json.loads(archive.read(name))
            pending: list[str] = []
            rewrite(schema, pending)
            bundled: dict[str, Any] = {}
            while pending:
                ref = pending.pop()
                if ref in bundled:
                    continue
                definition = json.loads(json.dumps(definitions[ref]))
                rewrite(definition, pending)
                bundled[ref] = definition
            if bundled:
                schema["$defs"] = bundled
            (tmp / filename).write_text(json.dumps(schema))
            count += 1
    tmp.rename(out)
    print(f"{count} schemas for Kubernetes {version} written to {out}")
    return 0


def main() -> int:
    """``build_schemas.py WHEEL VERSION OUT``."""
    if len(sys.argv) != 4:
        print("usage: build_schemas.py WHEEL VERSION OUT", file=sys.stderr)
        return 2
    return build_schemas(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))


if __name__ == "__main__":
    sys.exit(main())
