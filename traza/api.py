"""The read-only JSON API for integrations under ``/api``: conversations, timelines and metrics.

Off unless ``TRAZA_API_TOKEN`` is set (every ``/api`` path then answers 404 with a reason); when on,
each request must carry ``Authorization: Bearer <token>`` or gets 401 with ``WWW-Authenticate: Bearer``.
Bad query values answer 422 in FastAPI's one documented shape (``{"detail": [{"loc", "msg", "type"}]}``)
whether the type check or a parser below refused them; 401 and 404 are documented as
``{"detail": str}``. The response models below are what ``/openapi.json`` documents; metric
definitions are published in ``docs/metrics.md``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig
from bridge.domain import ConversationState
from store import reports

MAX_ID = 2**63 - 1
ISO_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}")
Cursor = Annotated[int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=200, description="page size, at most 200")]
Team = Annotated[str | None, Query(max_length=40, description="team id from traza.yml")]
# Typed (not free strings) so /openapi.json says what is accepted: a date (midnight UTC) or a datetime.
Instant = Annotated[
    datetime | None,
    BeforeValidator(lambda v: _iso_only(v)),
    Query(
        description="ISO 8601 date or datetime; naive is UTC. 422 when since is after until, or when the "
        "instant falls outside years 1-9999 once converted to UTC (rules OpenAPI cannot state)"
    ),
]
RefPath = Annotated[
    str, Path(max_length=20, pattern=r"^#?[0-9]{1,18}$", description="conversation ref, `1042` or `#1042`")
]


def _iso_only(value: object) -> object:
    """Refuse what pydantic would read as unix seconds (``until=0.4``): the API speaks ISO 8601 only."""
    if isinstance(value, str) and not ISO_DATE.match(value):
        raise ValueError("not an ISO 8601 date or datetime such as 2026-01-31 or 2026-01-31T10:00:00Z")
    return value


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


class SlaBreaches(BaseModel):
    first_response: int
    resolution: int


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
    first_response_business: Durations
    resolution_business: Durations
    per_team: list[TeamVolume]
    per_agent: list[AgentVolume]
    backlog: Backlog
    time_in_state: list[StateTime]
    handoffs: int
    reopen_rate: float | None
    per_number: list[NumberVolume]
    per_hour: list[int]
    csat: Csat
    sla_breaches: SlaBreaches


class Problem(BaseModel):
    detail: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or wrong bearer token"},
    404: {"model": Problem, "description": "the API is off (no TRAZA_API_TOKEN), or no such conversation"},
}


def _bad(where: str, name: str, reason: str) -> RequestValidationError:
    """A 422 shaped like FastAPI's own validation errors, which is what ``/openapi.json`` documents."""
    return RequestValidationError([{"type": "value_error", "loc": (where, name), "msg": reason}])


def parse_instant(name: str, value: datetime | None) -> datetime | None:
    """The instant in UTC (a naive one is taken as UTC); 422 when it cannot be expressed in UTC."""
    if value is None:
        return None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad("query", name, f"{name}: {value.isoformat()!r} is out of range in UTC") from None


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    start, end = parse_instant("since", since), parse_instant("until", until)
    if start and end and start > end:
        raise _bad("query", "since", "since must not be after until")
    return start, end


def parse_ref(value: str) -> int:
    digits = value.strip().removeprefix("#")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        raise _bad("path", "ref", f"ref: {value!r} is not a conversation number such as 1042 or #1042")
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
            hours = self.get_config().business_hours() if self.get_config else None
            result = await reports.metrics(conn, since=start, until=end, team=team, hours=hours)
        return Metrics.model_validate(result)


def build_api_router(
    get_engine: Callable[[], AsyncEngine],
    api_token: str | None,
    get_config: Callable[[], TrazaConfig] | None = None,
) -> APIRouter:
    """The ``/api`` router; ``get_engine``/``get_config`` are called per request (built in the lifespan)."""
    api = _Api(get_engine, get_config)
    router = APIRouter(
        prefix="/api", tags=["api"], dependencies=[Depends(_guard(api_token))], responses=ERROR_RESPONSES
    )
    router.add_api_route("/conversations", api.conversations, methods=["GET"])
    router.add_api_route("/conversations/{ref}", api.conversation, methods=["GET"])
    router.add_api_route("/conversations/{ref}/timeline", api.timeline, methods=["GET"])
    router.add_api_route("/metrics", api.metrics, methods=["GET"])
    return router
