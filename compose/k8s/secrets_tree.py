"""Nothing secret is committed under ``compose/k8s``: the ``tree`` check of ``check_manifests.py``.

No Secret manifests, no ``secretGenerator`` literals, and every env file a generator reads is
git-ignored with a committed ``.example`` beside it.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import yaml


def check_tree(k8s_dir: Path) -> int:
    """Print what was found; 0 when nothing secret is committed."""
    errors: list[str] = []
    ignore = k8s_dir / ".gitignore"
    patterns = [
        line.strip()
        for line in (ignore.read_text().splitlines() if ignore.exists() else [])
        if line.strip() and not line.startswith("#")
    ]
    env_files = 0
    for path in sorted(k8s_dir.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                errors.append(f"{path.relative_to(k8s_dir)}: a committed Secret manifest")
            if isinstance(doc, dict) and doc.get("kind") == "Kustomization":
                for generator in doc.get("secretGenerator", []) or []:
                    if generator.get("literals"):
                        errors.append(f"{path}: secretGenerator literals put values in git")
                    for env_file in generator.get("envs", []) + generator.get("files", []):
                        env_files += 1
                        name = Path(env_file.split("=", 1)[-1]).name
                        if not any(fnmatch.fnmatch(name, p) for p in patterns):
                            errors.append(f"{path.parent}/{env_file}: not git-ignored")
                        example = path.parent / (env_file + ".example")
                        if not example.exists():
                            errors.append(f"{example}: missing")
    for error in errors:
        print(f"  FAIL {error}")
    print(
        f"  secrets: no Secret manifests committed; {env_files} secretGenerator env files, "
        "each git-ignored with a committed .example"
        if not errors
        else "  secrets: problems above"
    )
    return 1 if errors else 0
