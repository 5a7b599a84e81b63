"""Integration fixtures: the real local stack, started once per test session."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from compose.local.secrets import ensure_local_secrets
from compose.local.stack import LocalStack
from paystream.bus.kafka import drop_topics
from paystream.settings import Settings, get_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def settings() -> Settings:
    # The stack's generated API secrets, as `paystream stack up` writes them, before reading.
    ensure_local_secrets()
    return get_settings()


@pytest.fixture(scope="session")
def stack(settings):
    """Bring the stack up once; stop at the end only what this session started."""
    local = LocalStack(settings)
    started = local.up(lambda line: print(f"[stack] {line}"))
    yield local
    if started and os.environ.get("PAYSTREAM_KEEP_STACK") != "1":
        local.down(lambda line: print(f"[stack] {line}"), started)


@pytest.fixture
def unique() -> str:
    """A short unique name so tests never collide on topics, tables or keys."""
    return f"it{uuid.uuid4().hex[:10]}"


@pytest.fixture
def kafka_settings(stack, settings, unique):
    """Kafka settings whose topics are private to one test (deleted after it)."""
    private = settings.kafka.model_copy(update={"topic_prefix": unique, "partitions": 3})
    yield private
    asyncio.run(drop_topics(private))


@pytest.fixture(scope="session")
def ledger_settings(stack, settings):
    """MySQL settings pointing at a fresh, migrated ledger database for this test session."""
    from harness.worlds import create_ledger_database, drop_ledger_database

    name = f"paystream_test_{uuid.uuid4().hex[:8]}"
    yield create_ledger_database(settings.mysql, name)
    drop_ledger_database(settings.mysql, name)
