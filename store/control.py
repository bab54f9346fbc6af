"""Conversation control from Slack: claim, transfer, close, reopen and notes, as transactions.

Each move checks its permission rule (``bridge.control``) against the conversation as it is inside
the transaction, writes the new state, records the event (a refusal is recorded too) and enqueues
the Slack work — card refresh, the transfer's new card and context, private answers — for the
worker. ``ControlError`` carries the sentence the asker is told.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.config import Team, TrazaConfig
from bridge.control import check_claim, check_close, check_note, check_reopen, check_transfer, team_of_agent
from bridge.domain import ConversationState, ConversationView, EventType
from bridge.errors import InvalidInput
from bridge.i18n import t
from store import assignment, csat, events, jobs
from store.channels import channel_for
from store.conversations import find_by_ref, find_by_thread
from store.events import NewEvent
from store.tables import conversations, message_links


async def record_claim(
    conn: AsyncConnection, view: ConversationView, user: str, now: datetime, how: str
) -> None:
    """``user`` becomes the voice of the conversation (the caller checked the rules and holds the row)."""
    await conn.execute(
        update(conversations)
        .where(conversations.c.id == view.id)
        .values(assignee=user, state=ConversationState.ASSIGNED, assigned_at=now)
    )
    await events.append(
        conn,
        [
            NewEvent(
                EventType.CONVERSATION_CLAIMED,
                now,
                view.id,
                view.ref,
                actor=user,
                team_id=view.team_id,
                payload={"assignee": user, "previous": view.assignee, "how": how},
            )
        ],
    )


class ControlError(InvalidInput):
    """A move that is refused or impossible; ``str(error)`` is what the asker is told."""


class Control:
    def __init__(self, engine: AsyncEngine, config: TrazaConfig, clock: Callable[[], datetime]) -> None:
        self.engine, self.config, self.clock = engine, config, clock

    async def resolve_thread(self, channel: str, thread_ts: str) -> int | None:
        async with self.engine.connect() as conn:
            view = await find_by_thread(conn, self.config, channel, thread_ts)
        return int(view.ref) if view else None

    async def view(self, ref: int) -> ConversationView:
        async with self.engine.connect() as conn:
            view = await find_by_ref(conn, self.config, ref)
        if view is None:
            raise ControlError(t("There is no conversation #{ref}.", ref=ref))
        return view

    async def _locked(self, conn: AsyncConnection, ref: int) -> ConversationView:
        held = await conn.scalar(
            select(conversations.c.menu_until).where(conversations.c.ref == ref).with_for_update()
        )
        view = await find_by_ref(conn, self.config, ref)
        if view is None:
            raise ControlError(t("There is no conversation #{ref}.", ref=ref))
        if held is not None:  # no card or team yet: the menu's answer (or its timeout) decides
            raise ControlError(
                t(
                    "#{ref} is waiting for the customer to answer the routing menu (until {until} UTC); "
                    "it reaches its team's channel then.",
                    ref=ref,
                    until=f"{held:%H:%M}",
                )
            )
        return view

    async def _refuse(self, view: ConversationView, user: str, verb: str, reason: str) -> NoReturn:
        async with self.engine.begin() as conn:
            await events.append(
                conn, [self._event(view, EventType.COMMAND_REFUSED, user, {"verb": verb, "reason": reason})]
            )
        raise ControlError(reason)

    def _event(self, view: ConversationView, kind: EventType, user: str, payload: dict[str, Any]) -> NewEvent:
        return NewEvent(
            kind, self.clock(), view.id, view.ref, actor=user, team_id=view.team_id, payload=payload
        )

    async def _card(self, conn: AsyncConnection, view: ConversationView) -> None:
        queue = f"conv:{view.id}"
        if not await jobs.pending_kinds(conn, queue, "update_card"):
            await jobs.enqueue(
                conn,
                queue,
                "update_card",
                {"conversation_id": view.id},
                self.clock(),
                slack_channel=view.slack_channel,
            )

    async def claim(self, ref: int, user: str) -> str:
        async with self.engine.begin() as conn:
            view = await self._locked(conn, ref)
            refusal = check_claim(self.config, view, user)
            if refusal is None:
                if view.assignee == user:
                    return t("You already hold #{ref}.", ref=ref)
                await record_claim(conn, view, user, self.clock(), "command or button")
                await self._card(conn, view)
                return t(
                    "You now hold #{ref} ({name}). Reply in its thread to answer the customer.",
                    ref=ref,
                    name=view.contact_name,
                )
        await self._refuse(view, user, "claim", refusal)

    async def close(self, ref: int, user: str, reason: str) -> str:
        async with self.engine.begin() as conn:
            view = await self._locked(conn, ref)
            refusal = check_close(self.config, view, user)
            if refusal is None:
                await conn.execute(
                    update(conversations)
                    .where(conversations.c.id == view.id)
                    .values(
                        state=ConversationState.CLOSED,
                        closed_at=self.clock(),
                        closed_by=user,
                        close_reason=reason or None,
                    )
                )
                await events.append(
                    conn,
                    [
                        self._event(
                            view,
                            EventType.CONVERSATION_CLOSED,
                            user,
                            {"reason": reason, "assignee": view.assignee},
                        )
                    ],
                )
                await self._card(conn, view)
                await csat.queue_question(conn, self.config, view, self.clock())
                return t("Closed #{ref}.", ref=ref) + (
                    " " + t("Reason: {reason}", reason=reason) if reason else ""
                )
        await self._refuse(view, user, "close", refusal)

    async def reopen(self, ref: int, user: str) -> str:
        async with self.engine.begin() as conn:
            view = await self._locked(conn, ref)
            refusal = check_reopen(self.config, view, user)
            if refusal is None:
                newer = await conn.scalar(
                    select(conversations.c.ref).where(
                        conversations.c.contact_id
                        == select(conversations.c.contact_id)
                        .where(conversations.c.id == view.id)
                        .scalar_subquery(),
                        conversations.c.phone_number_id
                        == select(conversations.c.phone_number_id)
                        .where(conversations.c.id == view.id)
                        .scalar_subquery(),
                        conversations.c.state != ConversationState.CLOSED,
                    )
                )
                if newer is not None:
                    refusal = t(
                        "The customer already has an open conversation on this number: #{ref}.", ref=newer
                    )
                else:
                    state = ConversationState.ASSIGNED if view.assignee else ConversationState.OPEN
                    await conn.execute(
                        update(conversations)
                        .where(conversations.c.id == view.id)
                        .values(
                            state=state,
                            closed_at=None,
                            closed_by=None,
                            close_reason=None,
                            # the holder's clock for return_after_minutes starts again at the reopen
                            assigned_at=self.clock() if view.assignee else None,
                        )
                    )
                    await events.append(conn, [self._event(view, EventType.CONVERSATION_REOPENED, user, {})])
                    await self._card(conn, view)
                    return t("Reopened #{ref}.", ref=ref)
        await self._refuse(view, user, "reopen", refusal)

    async def note(self, ref: int, user: str, text: str) -> str:
        async with self.engine.begin() as conn:
            view = await self._locked(conn, ref)
            refusal = check_note(self.config, view, user)
            if refusal is None:
                now = self.clock()
                await conn.execute(
                    message_links.insert().values(
                        conversation_id=view.id,
                        direction="note",
                        kind="note",
                        author=user,
                        body=text,
                        slack_channel=view.slack_channel,
                        status="note",
                        status_at=now,
                        sent_at=now,
                        created_at=now,
                    )
                )
                await events.append(
                    conn, [self._event(view, EventType.NOTE_ADDED, user, {"text": text, "via": "command"})]
                )
                await jobs.enqueue(
                    conn,
                    f"conv:{view.id}",
                    "post_note",
                    {"conversation_id": view.id, "user": user, "text": text},
                    now,
                    slack_channel=view.slack_channel,
                )
                return t("Note added to #{ref}.", ref=ref)
        await self._refuse(view, user, "note", refusal)

    async def transfer(self, ref: int, user: str, team_id: str | None, agent: str | None, reason: str) -> str:
        target = self._target_team(team_id, agent)
        async with self.engine.begin() as conn:
            view = await self._locked(conn, ref)
            refusal = check_transfer(self.config, view, user)
            if refusal is None and target.id == view.team_id and agent in (None, view.assignee):
                refusal = (
                    t("#{ref} is already with {team} and <@{agent}>.", ref=ref, team=target.name, agent=agent)
                    if agent
                    else t("#{ref} is already with {team}.", ref=ref, team=target.name)
                )
            if refusal is None:
                channel = await self._move(conn, view, user, target.id, agent, reason)
                who = f"<@{agent}> ({target.name})" if agent else target.name
                return t(
                    "Transferred #{ref} to {who}. Its new thread is in <#{channel}>.",
                    ref=ref,
                    who=who,
                    channel=channel,
                )
        await self._refuse(view, user, "transfer", refusal)

    def _target_team(self, team_id: str | None, agent: str | None) -> Team:
        if agent:
            team = self.config.team(team_id) if team_id else team_of_agent(self.config, agent)
            if team is None or (team_id and not team.is_member(agent) and team.members):
                raise ControlError(
                    t("<@{agent}> is not a member of any team in traza.yml.", agent=agent)
                    if team is None
                    else t("<@{agent}> is not a member of team {team}.", agent=agent, team=team.name)
                )
            return team
        team = self.config.team(team_id or "")
        if team is None:
            known = ", ".join(each.id for each in self.config.teams)
            raise ControlError(t("Unknown team {team}. Teams: {known}.", team=repr(team_id), known=known))
        return team

    async def _move(
        self,
        conn: AsyncConnection,
        view: ConversationView,
        user: str,
        team_id: str,
        agent: str | None,
        reason: str,
    ) -> str:
        team = self.config.team(team_id)
        assert team is not None
        # Inside one of the team's channels already: stay there; else its least busy channel.
        stays = team.id == view.team_id and view.slack_channel in team.slack_channels
        channel = view.slack_channel if stays else await channel_for(conn, team, view.id)
        state = ConversationState.ASSIGNED if agent else ConversationState.OPEN
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == view.id)
            .values(team_id=team.id, assignee=agent, state=state, assigned_at=self.clock() if agent else None)
        )
        payload = {
            "from_team": view.team_id,
            "to_team": team.id,
            "to_agent": agent,
            "reason": reason,
            "from_channel": view.slack_channel,
            "from_thread": view.slack_thread_ts,
            "previous_assignee": view.assignee,
        }
        await events.append(conn, [self._event(view, EventType.CONVERSATION_TRANSFERRED, user, payload)])
        await jobs.enqueue(
            conn,
            f"conv:{view.id}",
            "transfer_card",
            {"conversation_id": view.id, "by": user, "to_channel": channel, **payload},
            self.clock(),
            slack_channel=channel,
        )
        if agent is None:
            await assignment.queue_assignment(
                conn, self.config, view.id, team.id, self.clock(), "transferred"
            )
        return channel
