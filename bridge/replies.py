"""One voice per conversation: what happens to a human reply posted in a conversation's thread.

A pure policy (no I/O): given the conversation, its team and the author, decide whether the reply
goes to the customer, claims the conversation first, or stays an internal note, and why. SPEC §4:
the holder speaks; the first reply in an unassigned conversation claims it; anyone else writes an
internal note and is told why, privately; ``//`` always marks a note. SPEC §5: outside the 24-hour
window free text is not sent and the agent is offered a template.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from bridge.config import TrazaConfig
from bridge.domain import ConversationState, ConversationView
from bridge.i18n import t

NOTE_PREFIX = "//"


class ReplyOutcome(enum.StrEnum):
    SEND = "send"
    NOTE = "note"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class ReplyDecision:
    outcome: ReplyOutcome
    claims: bool = False
    reason: str = ""
    """Said privately to the author when the reply does not go out (empty for deliberate notes)."""


def may_act_in_team(config: TrazaConfig, team_id: str, user: str) -> bool:
    """Members and leads of the team, and admins everywhere; a team with no member list is open."""
    if user in config.admins:
        return True
    team = config.team(team_id)
    if team is None:
        return False
    return not (team.members or team.leads) or team.is_member(user)


def decide_reply(
    config: TrazaConfig, view: ConversationView, author: str, text: str, now: datetime
) -> ReplyDecision:
    if text.lstrip().startswith(NOTE_PREFIX):
        return ReplyDecision(ReplyOutcome.NOTE)
    if view.state is ConversationState.CLOSED:
        return ReplyDecision(
            ReplyOutcome.NOTE,
            reason=t(
                "Conversation #{ref} is closed, so your message was kept as an internal note. "
                "Reopen it (button on the card or `/traza reopen {ref}`) to write to the customer.",
                ref=view.ref,
            ),
        )
    claims = False
    if view.assignee is None:
        if not may_act_in_team(config, view.team_id, author):
            return ReplyDecision(
                ReplyOutcome.NOTE,
                reason=t(
                    "Conversation #{ref} belongs to team {team} and you are not one of its "
                    "members, so your message was kept as an internal note.",
                    ref=view.ref,
                    team=view.team_name,
                ),
            )
        claims = True
    elif view.assignee != author:
        return ReplyDecision(
            ReplyOutcome.NOTE,
            reason=t(
                "<@{holder}> holds conversation #{ref}, so your message was kept as an internal "
                "note (one voice per conversation). Ask them or a lead to transfer it to you, or start your "
                "message with // to write notes on purpose.",
                holder=view.assignee,
                ref=view.ref,
            ),
        )
    if not view.window_open(now):
        return ReplyDecision(
            ReplyOutcome.REFUSED,
            claims=claims,
            reason=(
                t("Not sent: the customer's 24-hour window is closed")
                + (
                    " " + t("(it closed {time} UTC)", time=f"{view.window_ends_at:%Y-%m-%d %H:%M}")
                    if view.window_ends_at
                    else ""
                )
                + ". "
                + t(
                    "WhatsApp only accepts an approved template now: `/traza start {ref} &lt;template&gt;`.",
                    ref=view.ref,
                )
            ),
        )
    return ReplyDecision(ReplyOutcome.SEND, claims=claims)
