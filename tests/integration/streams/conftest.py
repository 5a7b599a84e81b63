"""Fixtures for stream-worker tests: an isolated world per test (topics, ledger, keys)."""

from __future__ import annotations

import pytest

from harness.worlds import create_world


@pytest.fixture
def world(stack, settings, tmp_path):
    world = create_world(settings, tmp_path / "logs")
    yield world
    world.destroy()
