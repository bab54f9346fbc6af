"""Service-level targets: what a breach says in its thread and how the nudge is posted exactly once.

When a target is due is the conversation's own rule (``ConversationView.sla_due``); which conversations
are swept, and the once-only record of a breach, are the store's (``store.sla``). This module owns the
words of the nudge (the team's leads mentioned) and the job that posts it: the post carries metadata
naming the conversation and the target, so a retry after a crash finds it instead of nudging twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Protocol

from bridge.domain import ConversationView, SlackTs, SlaTarget
from bridge.i18n import t

SLA_EVENT_TYPE = "traza_sla"
"""``metadata.event_type`` of a nudge; its payload names ``conversation_id`` and ``target``."""


class NudgeSurface(Protocol):
    async def post_nudge(self, view: ConversationView, target: SlaTarget, text: str) -> SlackTs: ...

    async def find_nudge(self, view: ConversationView, target: SlaTarget) -> SlackTs | None:
        """The nudge already posted for this conversation and target (a crash may hide it from us)."""
        ...


class NudgeLedger(Protocol):
    async def view(self, conversation_id: int) -> ConversationView: ...

    async def done(self) -> None: ...


def describe_limit(limit: timedelta) -> str:
    """``15 min``, ``2 h``, ``1 h 30 min``, ``3 d`` — targets are round numbers, shown as typed."""
    minutes = round(limit.total_seconds() / 60, 2)
    if minutes < 60:
        return f"{minutes:g} min"
    hours, rest = divmod(minutes, 60)
    if rest:
        return f"{hours:g} h {rest:g} min"
    return f"{hours / 24:g} d" if hours >= 48 and hours % 24 == 0 else f"{hours:g} h"


def nudge_text(ref: int, target: SlaTarget, limit: timedelta, leads: Iterable[str]) -> str:
    """The thread notice of one breach; the team's leads are mentioned so Slack notifies them."""
    mentions = " ".join(f"<@{lead}>" for lead in sorted(leads))
    ask = (
        t("{mentions}: please take a look.", mentions=mentions)
        if mentions
        else t("(this team has no lead to mention)")
    )
    limit_text = describe_limit(limit)
    if target is SlaTarget.FIRST_RESPONSE:
        return t(
            "⏰ *SLA missed*: #{ref} has had no first response for {limit} (target {limit}). {ask}",
            ref=ref,
            limit=limit_text,
            ask=ask,
        )
    return t(
        "⏰ *SLA missed*: #{ref} is still open {limit} after it started (target {limit}). {ask}",
        ref=ref,
        limit=limit_text,
        ask=ask,
    )


def flag_text(view: ConversationView, targets: Iterable[SlaTarget]) -> str:
    """The card's SLA line for the targets it is past."""
    names = {SlaTarget.FIRST_RESPONSE: t("first response"), SlaTarget.RESOLUTION: t("resolution")}
    parts = []
    for target in targets:
        limit = view.sla.of(target) if view.sla else None
        parts.append(
            t("{target} (target {limit})", target=names[target], limit=describe_limit(limit))
            if limit
            else names[target]
        )
    return ":alarm_clock: " + t("*SLA overdue*: {targets}", targets=" · ".join(parts))


async def nudge(
    conversation_id: int,
    target: SlaTarget,
    text: str,
    attempt: int,
    ledger: NudgeLedger,
    surface: NudgeSurface,
) -> None:
    """Post one breach's nudge in the conversation's thread, unless an earlier attempt already did."""
    view = await ledger.view(conversation_id)
    if attempt > 1 and await surface.find_nudge(view, target) is not None:
        await ledger.done()
        return
    await surface.post_nudge(view, target, text)
    await ledger.done()
