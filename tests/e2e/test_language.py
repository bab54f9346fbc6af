"""``language: es`` in traza.yml: the card, the agent's answers and the notices speak Spanish."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

import pytest

from bridge import i18n
from tests import slack_payloads as sp
from tests.e2e.test_control import AGENT, SOPORTE, slash
from tests.fakes import whatsapp_payloads as wp
from tests.harness import Harness, eventually, load_test_config, running_traza
from traza.settings import Settings


@pytest.fixture
async def traza_es(traza_env: dict[str, str], fakes: tuple[object, object]) -> AsyncIterator[Harness]:
    slack, graph = fakes
    config = dataclasses.replace(load_test_config(), language="es")
    try:
        async with running_traza(traza_env, config=config) as client:
            yield Harness(client, slack, graph, Settings.from_env(traza_env, env_file=None))  # type: ignore[arg-type]
    finally:
        i18n.activate("en")


async def test_spanish_card_answers_and_notes(traza_es: Harness) -> None:
    traza = traza_es
    await traza.webhook(wp.inbound_text_webhook("Hola", wa_id="5491100000601"))
    thread = await traza.thread_of(SOPORTE)
    card = json.dumps(traza.slack.message(SOPORTE, thread), ensure_ascii=False)
    assert "Reclamar" in card and "Transferir" in card and "Número de empresa" in card
    ref = traza.slack.message(SOPORTE, thread)["metadata"]["event_payload"]["ref"]  # type: ignore[index]
    assert await slash(traza, "/claim", str(ref), AGENT) == f"Ahora tienes la #{ref} (Sheena Nelson). " + (
        "Responde en su hilo para contestarle al cliente."
    )
    assert (await slash(traza, "/traza", "bailar", AGENT)).startswith("Verbo desconocido `bailar`.")
    await traza.slack_event(sp.thread_reply(SOPORTE, thread, "U0AGENT004", "Yo también"))
    told = await eventually(
        lambda: [e for e in traza.slack.ephemerals(SOPORTE) if e.get("user") == "U0AGENT004"],
        what="the private explanation",
    )
    assert "quedó como nota interna" in told[0]["text"]
