"""The verbs that move a conversation: claim, transfer, close, reopen, and internal notes."""

from __future__ import annotations

import re

from bridge.i18n import N_, t
from commands.registry import Desk, Request, UsageError, resolve_ref, verb

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_USER_ID = re.compile(r"^@?([UW][A-Z0-9]{2,})$")


def parse_agent(token: str) -> str | None:
    """``<@U123|ana>`` (what Slack sends with escaping on), ``<@U123>`` or a bare ``U123``."""
    match = _MENTION.match(token) or _USER_ID.match(token)
    return match.group(1) if match else None


@verb("claim", "<ref|+phone>", N_("take a conversation: you become its voice"))
async def claim(desk: Desk, req: Request) -> str:
    if len(req.args) != 1:
        raise UsageError("")
    ref = await resolve_ref(desk, req.args[0])
    return await desk.claim(ref, req.user)


@verb("transfer", "<ref> <team-id | @agent> [reason]", N_("move a conversation to another team or agent"))
async def transfer(desk: Desk, req: Request) -> str:
    if len(req.args) < 2:
        raise UsageError("")
    ref = await resolve_ref(desk, req.args[0])
    target = req.args[1]
    agent = parse_agent(target)
    if agent is None and target.startswith("@"):
        raise UsageError(
            t(
                "mention the agent with Slack's @ so their user id comes through (got {target})",
                target=repr(target),
            )
        )
    reason = " ".join(req.args[2:])
    return await desk.transfer(ref, req.user, None if agent else target.lower(), agent, reason)


@verb("close", "<ref> [reason]", N_("close a conversation"))
async def close(desk: Desk, req: Request) -> str:
    if not req.args:
        raise UsageError("")
    ref = await resolve_ref(desk, req.args[0])
    return await desk.close(ref, req.user, " ".join(req.args[1:]))


@verb("reopen", "<ref>", N_("reopen a closed conversation"))
async def reopen(desk: Desk, req: Request) -> str:
    if len(req.args) != 1:
        raise UsageError("")
    ref = await resolve_ref(desk, req.args[0], phone_ok=False)
    return await desk.reopen(ref, req.user)


@verb("note", "<ref> <text>", N_("add an internal note (never sent to the customer)"))
async def note(desk: Desk, req: Request) -> str:
    if len(req.args) < 2:
        raise UsageError("")
    text = req.rest.split(None, 1)[1] if len(req.rest.split(None, 1)) > 1 else ""
    ref = await resolve_ref(desk, req.args[0], phone_ok=False)
    return await desk.note(ref, req.user, text)
