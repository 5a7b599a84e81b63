"""The command line's layout: each command lives in ``<package>.commands.<command>`` and is
thin (it parses, calls one function of its role, and prints)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import typer

from cli.main import app

# Options and help texts make a signature long; the body is what must stay small.
MAX_BODY_LINES = 40


def _commands(
    group: typer.Typer, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Callable[..., Any]]]:
    for info in group.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.replace("_", "-")
        yield (*path, name), info.callback
    for sub in group.registered_groups:
        assert sub.name is not None and sub.typer_instance is not None
        yield from _commands(sub.typer_instance, (*path, sub.name))


def _body_lines(function: Callable[..., Any]) -> int:
    """Lines of ``function``'s body after its signature and docstring."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    definition = tree.body[0]
    assert isinstance(definition, ast.FunctionDef)
    body = definition.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


COMMANDS = sorted(_commands(app), key=lambda item: item[0])


def test_every_command_lives_in_a_commands_module_named_after_it() -> None:
    misplaced = []
    for path, callback in COMMANDS:
        package, _, module = callback.__module__.rpartition(".")
        allowed = {part.replace("-", "_") for part in (path[0], path[-1])}
        allowed |= {name + "_" for name in allowed}  # `import` is a keyword: import_.py
        if not package.endswith(".commands") or module not in allowed:
            misplaced.append(f"{' '.join(path)}: {callback.__module__}")
    assert not misplaced, misplaced


def test_every_command_function_is_thin() -> None:
    long = {
        " ".join(path): lines
        for path, callback in COMMANDS
        if (lines := _body_lines(callback)) > MAX_BODY_LINES
    }
    assert not long, long


def test_the_whole_command_tree_is_checked() -> None:
    # A guard against a walk that silently finds nothing.
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"demo", "stack up", "lakehouse build", "train fraud", "replay online-retail"} <= names
    assert len(names) > 30
