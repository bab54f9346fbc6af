"""Regressions found in review: races, lost notices, blocked queues, repeated transfer posts, visibility."""

from __future__ import annotations

import asyncio

from tests import slack_payloads as sp
from tests.fakes import whatsapp_payloads as wp
from tests.harness import Harness, eventually

SOPORTE = "C0SOPORTE1"
AGENT = "U0AGENT003"


async def open_conversation(traza: Harness, wa_id: str, text: str = "Hola") -> str:
    response = await traza.webhook(wp.inbound_text_webhook(text, wa_id=wa_id))
    assert response.status_code == 200
    thread = await traza.thread_of(SOPORTE)
    await traza.replies(SOPORTE, thread, 1)
    return thread


async def test_failure_notice_survives_a_slack_429(traza: Harness) -> None:
    """deliver_reply finishes the job (reply_failed) BEFORE posting the notice: a 429 on the
    notice post makes the worker 'retry' a deleted job, so the notice is never shown."""
    thread = await open_conversation(traza, "5491100000905")
    traza.graph.fail_next_send(131026)
    traza.slack.rate_limit_next("chat.postMessage", retry_after=1)
    await traza.agent_says(SOPORTE, thread, AGENT, "¿Sigues ahí?")
    await eventually(
        lambda: [m for m in traza.slack.thread(SOPORTE, thread) if "not delivered" in m.get("text", "")],
        timeout=8,
        what="failure notice after one 429",
    )


async def test_131056_backoff_grows_4_to_the_x(sqlite_url: str) -> None:
    """Meta asks 4^X s for pair-rate limits; count=False keeps `attempts` constant, so X never grows."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from bridge.whatsapp.errors import graph_error
    from store import jobs
    from store.coordination import Coordinator
    from store.db import create_engine
    from store.tables import jobs as jobs_t
    from tests.harness import load_test_config
    from traza.worker import Worker

    engine = create_engine(sqlite_url)
    worker = Worker(engine, load_test_config(), Coordinator(0), None, None, None, None)  # type: ignore[arg-type]

    async def always_131056(job):
        raise graph_error(131056, "pair rate limit", "", 400, None)

    worker._handle = always_131056  # type: ignore[method-assign]
    async with engine.begin() as conn:
        job_id = await jobs.enqueue(conn, "conv:1", "deliver_reply", {"link_id": 1}, datetime.now(UTC))
    delays = []
    for _ in range(4):
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            await conn.execute(jobs_t.update().where(jobs_t.c.id == job_id).values(available_at=now))
        [job] = [j for j in await jobs.candidates(engine, now, 10) if j.id == job_id]
        claimed = await jobs.claim(engine, job, "me:1", now)
        assert claimed is not None
        await worker._run(claimed)
        async with engine.connect() as conn:
            at = await conn.scalar(select(jobs_t.c.available_at).where(jobs_t.c.id == job_id))
        delays.append(round((at - now).total_seconds()))
    await engine.dispose()
    assert delays[-1] > delays[0], f"131056 retry delays never grow: {delays}"


async def test_undeliverable_ephemeral_does_not_block_later_answers_forever(sqlite_url: str) -> None:
    """A shortcut used in a channel the bot is not in -> chat.postEphemeral `not_in_channel`, which
    is in CONFIG_ERRORS: the notify job is retried forever and every later private answer for the
    same user (queue notify:<user>) waits behind it."""
    from datetime import UTC, datetime

    from bridge.errors import PermanentRemoteError
    from store import jobs
    from store.coordination import Coordinator
    from store.db import create_engine
    from store.tables import jobs as jobs_t
    from tests.harness import load_test_config
    from traza.worker import Worker

    told: list[str] = []

    class Desk:
        async def tell(self, channel, thread_ts, user, text):
            if channel == "C0NOTBOT1":
                raise PermanentRemoteError("slack", "not_in_channel")
            told.append(text)

    engine = create_engine(sqlite_url)
    worker = Worker(engine, load_test_config(), Coordinator(0), None, None, None, Desk())  # type: ignore[arg-type]
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for channel, text in [("C0NOTBOT1", "not a Traza thread"), ("C0SOPORTE1", "You now hold #1001")]:
            payload = {"channel": channel, "thread_ts": None, "user": "U1", "text": text}
            await jobs.enqueue(conn, "notify:U1", "notify_agent", payload, now)
    for _ in range(10):  # fast-forward ten retries
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            await conn.execute(jobs_t.update().values(available_at=now))
        for job in await jobs.candidates(engine, now, 10):
            claimed = await jobs.claim(engine, job, "me:1", now)
            assert claimed is not None
            await worker._run(claimed)
    await engine.dispose()
    assert told == ["You now hold #1001"], "the second answer is stuck behind a poison notify job"


async def test_two_first_replies_at_once_give_one_voice(traza: Harness) -> None:
    """record_thread_event reads `assignee is None` without a row lock and claims with an
    unconditional UPDATE: on PostgreSQL two agents answering an unassigned conversation at
    the same moment both 'claim' it and both replies reach the customer."""
    thread = await open_conversation(traza, "5491100000907")
    a = sp.thread_reply(SOPORTE, thread, "U0AGENT003", "Hola, soy Ana")
    b = sp.thread_reply(SOPORTE, thread, "U0AGENT004", "Hola, soy Beto")
    ra, rb = await asyncio.gather(traza.slack_event(a), traza.slack_event(b))
    assert ra.status_code == rb.status_code == 200
    await eventually(lambda: traza.graph.sends(), what="a send")
    await asyncio.sleep(1.5)
    assert len(traza.graph.sends()) == 1, [s.text for s in traza.graph.sends()]


async def _slash(traza: Harness, command: str, text: str, user: str, channel: str = SOPORTE) -> str:
    response = await traza.slack_form(
        {
            "command": command,
            "text": text,
            "user_id": user,
            "channel_id": channel,
            "team_id": "T0ACME0001",
            "response_url": traza.slack.new_response_url(),
            "trigger_id": "1.2.3",
        }
    )
    assert response.status_code == 200, response.text
    return str(response.json()["text"])


async def test_history_respects_team_visibility_like_search(traza: Harness) -> None:
    """/search hides other teams' conversations; /history <ref> shows their message text anyway."""
    await traza.webhook(wp.inbound_text_webhook("Mi clave del banco es 4455", wa_id="5491100000908"))
    thread = await traza.thread_of(SOPORTE)
    card = traza.slack.message(SOPORTE, thread)
    ref = card["metadata"]["event_payload"]["ref"]
    await traza.replies(SOPORTE, thread, 1)
    assert "No messages match" in await _slash(traza, "/traza", "search clave", "U0AGENT001")
    leaked = await _slash(traza, "/history", str(ref), "U0AGENT001")  # a Ventas agent
    assert "4455" not in leaked, leaked


async def test_reply_in_the_old_thread_after_a_transfer_is_not_silently_dropped(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000909")
    card = traza.slack.message(SOPORTE, thread)
    ref = card["metadata"]["event_payload"]["ref"]
    await _slash(traza, "/transfer", f"{ref} cobranzas", "U0LEAD0002")
    await traza.thread_of("C0COBRANZ1")
    await asyncio.sleep(0.5)
    before = len(traza.slack.ephemerals(SOPORTE))
    await traza.agent_says(SOPORTE, thread, "U0AGENT003", "¿Me confirmas el pago?")
    await asyncio.sleep(1.5)
    assert traza.graph.sends() or len(traza.slack.ephemerals(SOPORTE)) > before, (
        "the reply was neither sent nor noted, and the agent was not told"
    )


async def test_transfer_context_is_posted_once_even_if_a_later_step_fails(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000910")
    ref = traza.slack.message(SOPORTE, thread)["metadata"]["event_payload"]["ref"]
    await asyncio.sleep(0.3)
    traza.slack.server_error_next("chat.update")  # replace_card of the old card fails once
    await _slash(traza, "/transfer", f"{ref} cobranzas", "U0LEAD0002")
    new = await traza.thread_of("C0COBRANZ1")
    await asyncio.sleep(6)
    intro = [m for m in traza.slack.thread("C0COBRANZ1", new) if "Transferred from" in m.get("text", "")]
    moved = [m for m in traza.slack.thread(SOPORTE, thread) if "moved to team" in m.get("text", "")]
    assert (len(intro), len(moved)) == (1, 1), (len(intro), len(moved))
