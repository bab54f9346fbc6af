"""The read-only JSON API for integrations under ``/api``: conversations, timelines and metrics.

Off unless ``TRAZA_API_TOKEN`` is set (every ``/api`` path then answers 404 with a reason); when on,
each request must carry ``Authorization: Bearer <token>`` or gets 401 with ``WWW-Authenticate: Bearer``.
Bad query values answer 422 with a JSON reason. The response models below are what ``/openapi.json``
documents; metric definitions are published in ``docs/metrics.md``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig
from bridge.domain import ConversationState
from store import reports

MAX_ID = 2**63 - 1
Cursor = Annotated[int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=200, description="page size, at most 200")]
Team = Annotated[str | None, Query(max_length=40, description="team id from traza.yml")]
Instant = Annotated[str | None, Query(max_length=40, description="ISO 8601 date or datetime; naive is UTC")]
RefPath = Annotated[str, Path(max_length=20, description="conversation ref, `1042` or `#1042`")]


class ConversationSummary(BaseModel):
    ref: int
    state: ConversationState
    team: str
    team_name: str | None = None
    assignee: str | None
    contact_name: str
    contact_phone: str | None
    opened_at: datetime
    closed_at: datetime | None
    last_customer_message_at: datetime | None
    first_response_at: datetime | None
    labels: list[str] = []


class ConversationDetail(ConversationSummary):
    phone_number_id: str
    business_number: str
    window_ends_at: datetime | None
    window_open: bool
    last_agent_message_at: datetime | None
    closed_by: str | None
    close_reason: str | None
    slack_channel: str
    slack_thread_ts: str | None
    routing_rule: str | None


class ConversationPage(BaseModel):
    items: list[ConversationSummary]
    next_cursor: int | None


class TimelineEvent(BaseModel):
    seq: int
    type: str
    at: datetime
    actor: str | None
    team: str | None
    payload: dict[str, Any] | None


class TimelinePage(BaseModel):
    items: list[TimelineEvent]
    next_cursor: int | None


class Durations(BaseModel):
    conversations: int
    measured: int
    pending: int
    median_seconds: float | None
    p90_seconds: float | None


class TeamVolume(BaseModel):
    team: str
    conversations_opened: int
    customer_messages: int
    agent_replies: int


class AgentVolume(BaseModel):
    agent: str
    replies: int
    conversations: int


class Backlog(BaseModel):
    open: int
    assigned: int


class StateTime(BaseModel):
    team: str
    state: str
    seconds: float


class NumberVolume(BaseModel):
    phone_number_id: str
    conversations_opened: int
    customer_messages: int


class Csat(BaseModel):
    asked: int
    answered: int
    response_rate: float | None
    average: float | None
    answers: int
    by_score: dict[str, int]


class Metrics(BaseModel):
    since: datetime | None
    until: datetime
    team: str | None
    timezone: str
    conversations_opened: int
    conversations_closed: int
    conversations_reopened: int
    transfers: int
    customer_messages: int
    agent_replies: int
    first_response: Durations
    resolution: Durations
    per_team: list[TeamVolume]
    per_agent: list[AgentVolume]
    backlog: Backlog
    time_in_state: list[StateTime]
    handoffs: int
    reopen_rate: float | None
    per_number: list[NumberVolume]
    per_hour: list[int]
    csat: Csat


def _bad(reason: str) -> HTTPException:
    return HTTPException(status_code=422, detail=reason)


def parse_instant(name: str, value: str | None) -> datetime | None:
    """``2026-01-31`` (midnight UTC) or an ISO 8601 datetime (UTC when it has no offset)."""
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad(f"{name}: {value!r} is not an ISO 8601 date or datetime (UTC)") from None


def _period(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    start, end = parse_instant("since", since), parse_instant("until", until)
    if start and end and start > end:
        raise _bad("since must not be after until")
    return start, end


def parse_ref(value: str) -> int:
    digits = value.strip().removeprefix("#")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        raise _bad(f"ref: {value!r} is not a conversation number such as 1042 or #1042")
    return int(digits)


def _guard(api_token: str | None) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    def check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))],
    ) -> None:
        if not api_token:
            raise HTTPException(404, detail="the API is off: set TRAZA_API_TOKEN to turn it on")
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), api_token.encode()):
            raise HTTPException(
                401,
                detail="missing or wrong bearer token (Authorization: Bearer <TRAZA_API_TOKEN>)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


class _Api:
    def __init__(
        self, get_engine: Callable[[], AsyncEngine], get_config: Callable[[], TrazaConfig] | None
    ) -> None:
        self.get_engine, self.get_config = get_engine, get_config

    def _named(self, item: dict[str, Any]) -> dict[str, Any]:
        team = self.get_config().team(item["team"]) if self.get_config else None
        return {**item, "team_name": team.name if team else None}

    async def conversations(
        self,
        team: Team = None,
        state: Annotated[ConversationState | None, Query()] = None,
        since: Instant = None,
        until: Instant = None,
        cursor: Cursor = None,
        limit: Limit = 50,
        label: Annotated[
            str | None, Query(max_length=30, description="only conversations with this label")
        ] = None,
    ) -> ConversationPage:
        """Conversations newest first, filtered by team, state, label and opening time ``[since, until)``."""
        start, end = _period(since, until)
        async with self.get_engine().connect() as conn:
            items, next_cursor = await reports.list_conversations(
                conn,
                team=team,
                state=state,
                since=start,
                until=end,
                cursor=cursor,
                limit=limit,
                label=label.lower() if label else None,
            )
        return ConversationPage.model_validate(
            {"items": [self._named(i) for i in items], "next_cursor": next_cursor}
        )

    async def conversation(self, ref: RefPath) -> ConversationDetail:
        """One conversation's live state; 404 when no conversation has that ref."""
        async with self.get_engine().connect() as conn:
            detail = await reports.conversation_detail(conn, parse_ref(ref))
        if detail is None:
            raise HTTPException(404, detail=f"no conversation #{ref.lstrip('#')}")
        ends = detail["window_ends_at"]
        detail["window_open"] = ends is not None and datetime.now(UTC) < ends
        return ConversationDetail.model_validate(self._named(detail))

    async def timeline(self, ref: RefPath, cursor: Cursor = None, limit: Limit = 50) -> TimelinePage:
        """A conversation's recorded events in log order (oldest first), as the audit log holds them."""
        number = parse_ref(ref)
        async with self.get_engine().connect() as conn:
            if await reports.conversation_detail(conn, number) is None:
                raise HTTPException(404, detail=f"no conversation #{number}")
            items, next_cursor = await reports.timeline(conn, number, cursor=cursor, limit=limit)
        return TimelinePage.model_validate({"items": items, "next_cursor": next_cursor})

    async def metrics(self, since: Instant = None, until: Instant = None, team: Team = None) -> Metrics:
        """Operational metrics over ``[since, until)`` (UTC), computed from the event log."""
        start, end = _period(since, until)
        async with self.get_engine().connect() as conn:
            result = await reports.metrics(conn, since=start, until=end, team=team)
        return Metrics.model_validate(result)


def build_api_router(
    get_engine: Callable[[], AsyncEngine],
    api_token: str | None,
    get_config: Callable[[], TrazaConfig] | None = None,
) -> APIRouter:
    """The ``/api`` router; ``get_engine``/``get_config`` are called per request (built in the lifespan)."""
    api = _Api(get_engine, get_config)
    router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(_guard(api_token))])
    router.add_api_route("/conversations", api.conversations, methods=["GET"])
    router.add_api_route("/conversations/{ref}", api.conversation, methods=["GET"])
    router.add_api_route("/conversations/{ref}/timeline", api.timeline, methods=["GET"])
    router.add_api_route("/metrics", api.metrics, methods=["GET"])
    return router
