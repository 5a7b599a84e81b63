"""Checks of a rendered overlay against paystream's own code (needs the project's virtualenv).

Run by ``compose/k8s/validate.sh`` from the repository root, as
``python -m scripts.check_k8s_app {settings,commands} RENDERED``. It lives outside
``compose/`` because the commands check loads the ``paystream`` CLI root, which sits above
every role.

``settings RENDERED``
    Every ``PAYSTREAM_*`` key of the rendered ConfigMap and Secret is a real setting of
    ``paystream/settings.py``, the values load, and a production overlay sets the API's
    secrets (the API refuses to start on their development defaults).
``commands RENDERED``
    Every container on the paystream image runs the paystream CLI, directly or through
    ``spark/submit.sh``, and each ``paystream ...`` command names a real CLI command with
    real options: the same parse as ``paystream <command> --help``, so a renamed command or
    option fails here, not in a pod.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

from compose.k8s.objects import config_data, containers, load_objects, name_of, pod_spec

SUBMIT = "spark/submit.sh"


# --------------------------------------------------------------------------- settings


def check_settings(rendered: Path) -> int:
    """Load paystream's settings from exactly what the pods would get through envFrom."""
    from pydantic import BaseModel

    from paystream.settings import Settings, load_settings

    objects = load_objects(rendered)
    env = {**config_data(objects, "paystream-config"), **config_data(objects, "paystream-secrets")}
    errors: list[str] = []
    for key in sorted(env):
        if not key.startswith("PAYSTREAM_"):
            continue
        parts = key[len("PAYSTREAM_") :].lower().split("__")
        model: type[BaseModel] | None = Settings
        for part in parts:
            field = model.model_fields.get(part) if model is not None else None
            annotation = field.annotation if field is not None else None
            if field is None:
                errors.append(f"{key}: no such setting in paystream/settings.py")
                break
            model = (
                annotation
                if isinstance(annotation, type) and issubclass(annotation, BaseModel)
                else None
            )
    saved = {k: v for k, v in os.environ.items() if k.startswith("PAYSTREAM_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("PAYSTREAM_")})
    try:
        settings = load_settings(_env_file=None)
    except Exception as exc:
        errors.append(str(exc))
        settings = None
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)
    if settings is not None:
        print(
            f"  settings: {len(env)} keys load; kafka.profile={settings.kafka.profile}, "
            f"partitions={settings.kafka.partitions}, "
            f"spark_master={settings.lakehouse.spark_master}"
        )
        # The committed examples stand in for the Secret here, and they are placeholders the
        # API refuses at start (ApiSettings.require_secrets): only their presence is checked.
        for name in ("jwt_secret", "key_pepper"):
            if getattr(settings.api, name) is None:
                errors.append(
                    f"PAYSTREAM_API__{name.upper()}: not in the Secret; the API refuses "
                    "to start without it"
                )
        root = env.get("PAYSTREAM_LAKEHOUSE__ROOT")
        if root and str(settings.lakehouse.root) != root:
            print(
                f"  WARNING lakehouse.root is a Path: {root!r} loads as "
                f"{str(settings.lakehouse.root)!r} (a URI needs a str setting)"
            )
    for error in errors:
        print(f"  FAIL {error}")
    return 1 if errors else 0


# --------------------------------------------------------------------------- commands


def paystream_invocations(argv: list[str]) -> Iterator[list[str]]:
    """The paystream CLI arguments in one container's command line.

    Understands ``paystream ARGS``, ``sh .../spark/submit.sh ARGS`` and ``sh -c SCRIPT`` whose
    ``&&``-separated steps are either of those (optionally after ``exec``).
    """
    if argv[:2] == ["sh", "-c"] and len(argv) > 2:
        for step in argv[2].split("&&"):
            words = shlex.split(step)
            if words[:1] == ["exec"]:
                words = words[1:]
            yield from paystream_invocations(words)
    elif argv[:1] == ["paystream"]:
        yield argv[1:]
    elif len(argv) >= 2 and argv[0] == "sh" and argv[1].endswith(SUBMIT):
        yield argv[2:]


def check_commands(rendered: Path) -> int:
    """Parse every paystream invocation of the overlay like ``paystream ARGS --help``."""
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    errors: list[str] = []
    checked: list[str] = []
    for obj in load_objects(rendered):
        spec = pod_spec(obj)
        if spec is None:
            continue
        for container in containers(spec):
            argv = [*container.get("command", []), *container.get("args", [])]
            invocations = list(paystream_invocations(argv))
            image = container.get("image", "").rsplit("/", 1)[-1].split(":", 1)[0]
            if image == "paystream" and not invocations:
                errors.append(
                    f"{name_of(obj)} container {container['name']}: runs {argv!r} on the "
                    "paystream image, not the paystream CLI"
                )
            for args in invocations:
                # --help is eager: the command path and option names are parsed, then it
                # exits before any option value is used or any service is touched.
                result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
                line = " ".join(["paystream", *args])
                if result.exit_code == 0:
                    checked.append(line)
                    continue
                reason = next(
                    (
                        text.strip(" │╭╮╰╯─")
                        for text in reversed(result.output.splitlines())
                        if text.strip(" │╭╮╰╯─")
                    ),
                    f"exit code {result.exit_code}",
                )
                errors.append(f"{name_of(obj)}: `{line}` is no valid command: {reason}")
    print(f"  commands: {len(checked)} paystream invocations parse ({len(set(checked))} distinct)")
    for error in errors:
        print(f"  FAIL {error}")
    return 1 if errors else 0


def main() -> int:
    """Dispatch the subcommands above."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("settings", "commands"):
        sub.add_parser(name).add_argument("rendered", type=Path)
    args = parser.parse_args()
    if args.command == "settings":
        return check_settings(args.rendered)
    return check_commands(args.rendered)


if __name__ == "__main__":
    sys.exit(main())
