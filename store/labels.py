"""Labels on a conversation: ``/traza tag 1042 +vip -refund``.

Each change is a ``LabelsChanged`` event (added, removed, the resulting set) — the history of a
label lives in the event log; the current set is kept on ``conversations.labels`` for the card and
the API filter. Any member of the conversation's team may tag it, whoever holds it, even closed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig
from bridge.domain import EventType
from bridge.errors import InvalidInput
from bridge.i18n import t
from bridge.replies import may_act_in_team
from bridge.teamtools import MAX_LABELS, encode_labels, parse_label_changes
from store import events, jobs
from store.conversations import find_by_ref
from store.events import NewEvent
from store.tables import conversations


async def tag(
    engine: AsyncEngine,
    config: TrazaConfig,
    clock: Callable[[], datetime],
    ref: int,
    user: str,
    words: list[str],
) -> str:
    add, remove, problems = parse_label_changes(words)
    if problems:
        raise InvalidInput("; ".join(problems) + ". " + t("Example: `/traza tag 1042 +vip -refund`"))
    async with engine.begin() as conn:
        await conn.execute(select(conversations.c.id).where(conversations.c.ref == ref).with_for_update())
        view = await find_by_ref(conn, config, ref)
        if view is None:
            raise InvalidInput(t("There is no conversation #{ref}.", ref=ref))
        if not may_act_in_team(config, view.team_id, user):
            raise InvalidInput(
                t(
                    "#{ref} belongs to team {team}; only its members can label it.",
                    ref=ref,
                    team=view.team_name,
                )
            )
        before = set(view.labels)
        after = (before | add) - remove
        if len(after) > MAX_LABELS:
            raise InvalidInput(t("A conversation carries at most {count} labels.", count=MAX_LABELS))
        if after == before:
            return t("#{ref} labels unchanged: {labels}.", ref=ref, labels=_listed(after))
        now = clock()
        await conn.execute(
            update(conversations).where(conversations.c.id == view.id).values(labels=encode_labels(after))
        )
        payload = {
            "added": sorted(after - before),
            "removed": sorted(before - after),
            "labels": sorted(after),
        }
        await events.append(
            conn,
            [NewEvent(EventType.LABELS_CHANGED, now, view.id, view.ref, user, view.team_id, payload=payload)],
        )
        queue = f"conv:{view.id}"
        # Even before the card is recorded: a refresh queued behind its post_card job sees the change.
        if not await jobs.pending_kinds(conn, queue, "update_card"):
            await jobs.enqueue(
                conn,
                queue,
                "update_card",
                {"conversation_id": view.id},
                now,
                slack_channel=view.slack_channel,
            )
    return t("#{ref} labels: {labels}.", ref=ref, labels=_listed(after))


def _listed(labels: set[str]) -> str:
    return " ".join(f"`{label}`" for label in sorted(labels)) if labels else t("none")
