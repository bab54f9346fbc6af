"""Shared fixtures: databases (SQLite files and real PostgreSQL), Redis, the fake servers, Traza.

PostgreSQL and Redis are required: a fixture that cannot reach them errors (never skips), so CI
fails loudly when a service is down. Each test gets a fresh PostgreSQL database cloned from a
migrated template, and a fresh SQLite file copied from a migrated one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from store.migrate import upgrade
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import Harness, env_for, running_traza
from traza.settings import Settings

PG_ADMIN = os.environ.get("TRAZA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN.rsplit("/", 1)[0]
REDIS_URL = os.environ.get("TRAZA_TEST_REDIS", "redis://127.0.0.1:6379/15")
TEMPLATE_DB = f"traza_tpl_{os.getpid()}"

for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(proxy, None)


async def _pg_exec(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    import asyncio

    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"'))
    asyncio.run(_pg_exec(f'CREATE DATABASE "{TEMPLATE_DB}"'))
    upgrade(f"postgresql+asyncpg://{PG_BASE.split('://', 1)[1]}/{TEMPLATE_DB}")
    yield TEMPLATE_DB
    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def pg_url(pg_template: str) -> AsyncIterator[str]:
    name = f"traza_t_{uuid.uuid4().hex[:12]}"
    await _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield f"postgresql+asyncpg://{PG_BASE.split('://', 1)[1]}/{name}"
    await _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "traza.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every test using this runs twice: on SQLite and on PostgreSQL (with Redis)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture(scope="session")
def fake_graph() -> Iterator[FakeGraph]:
    with FakeGraph() as graph:
        yield graph


@pytest.fixture
def fakes(fake_slack: FakeSlack, fake_graph: FakeGraph) -> tuple[FakeSlack, FakeGraph]:
    fake_slack.reset()
    fake_graph.reset()
    return fake_slack, fake_graph


@pytest.fixture
def traza_env(
    database_url: str, fakes: tuple[FakeSlack, FakeGraph], request: pytest.FixtureRequest
) -> dict[str, str]:
    slack, graph = fakes
    extra: dict[str, str] = {}
    if database_url.startswith("postgresql"):
        extra["TRAZA_REDIS_URL"] = request.getfixturevalue("redis_url")
    return env_for(database_url, slack, graph, **extra)


@pytest.fixture
async def traza(traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]) -> AsyncIterator[Harness]:
    slack, graph = fakes
    async with running_traza(traza_env) as client:
        yield Harness(client, slack, graph, Settings.from_env(traza_env, env_file=None))
