"""Shared pieces of the webhook and enrichment end-to-end tests: the fake receiver fixture, a config
with ``webhooks``/``enrichment`` pointing at it, and a running Traza built from that config."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bridge.config import TrazaConfig, load_config
from store.db import create_engine
from store.tables import events
from tests.fakes.graph import FakeGraph
from tests.fakes.receiver import FakeReceiver
from tests.fakes.slack import FakeSlack
from tests.harness import CONFIG_PATH, Harness, running_traza
from traza.settings import Settings

HOOK_SECRET = "whsec-test-0123456789abcdef"
CRM_TOKEN = "crm-token-abcdef0123"


@pytest.fixture(scope="session")
def fake_receiver() -> Iterator[FakeReceiver]:
    with FakeReceiver() as receiver:
        yield receiver


@pytest.fixture
def receiver(fake_receiver: FakeReceiver) -> FakeReceiver:
    fake_receiver.reset()
    return fake_receiver


def config_with(**sections: Any) -> TrazaConfig:
    data = copy.deepcopy(yaml.safe_load(CONFIG_PATH.read_text()))
    data.update(sections)
    return load_config(data)


def hook(receiver: FakeReceiver, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": name, "url": f"{receiver.url}/hooks/{name}", "secret_env": "HOOK_SECRET", **extra}


def env_with_secrets(env: dict[str, str]) -> dict[str, str]:
    return {**env, "HOOK_SECRET": HOOK_SECRET, "CRM_TOKEN": CRM_TOKEN}


@contextlib.asynccontextmanager
async def traza_with(
    env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph], config: TrazaConfig
) -> AsyncIterator[Harness]:
    slack, graph = fakes
    async with running_traza(env, config=config) as client:
        yield Harness(client, slack, graph, Settings.from_env(env, env_file=None))


async def logged_events(database_url: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(events).order_by(events.c.seq))).mappings().all()
        return [dict(r) for r in rows]
    finally:
        await engine.dispose()
