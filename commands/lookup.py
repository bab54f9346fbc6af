"""The verbs that look things up: history, search, stats, and help; and ``start`` (templates)."""

from __future__ import annotations

from bridge.domain import parse_ref
from bridge.i18n import N_, t
from commands.registry import Desk, Request, UsageError, help_text, verb

PERIODS = ("today", "7d", "30d", "90d")


@verb("history", "<+phone|ref>", N_("every conversation with a customer, or one conversation's timeline"))
async def history(desk: Desk, req: Request) -> str:
    if len(req.args) != 1 or not (req.args[0].startswith("+") or parse_ref(req.args[0])):
        raise UsageError(
            ""
            if not req.args
            else t("{target} is neither +phone nor a conversation number", target=repr(req.args[0]))
        )
    return await desk.history(req.user, req.args[0])


@verb("search", "<words>", N_("full-text search over the messages you may see"))
async def search(desk: Desk, req: Request) -> str:
    if not req.rest.strip():
        raise UsageError("")
    return await desk.search(req.user, req.rest.strip())


@verb("stats", "[team] [today|7d|30d|90d]", N_("volumes, response and resolution times"))
async def stats(desk: Desk, req: Request) -> str:
    team, period = None, "7d"
    for arg in req.args:
        if arg.lower() in PERIODS:
            period = arg.lower()
        elif team is None:
            team = arg.lower()
        else:
            raise UsageError(t("unexpected {word}", word=repr(arg)))
    return await desk.stats(req.user, team, period)


@verb("start", "<+phone|ref> [template] [params…]", N_("write first with an approved template"))
async def start(desk: Desk, req: Request) -> str:
    if not req.args:
        raise UsageError("")
    target = req.args[0]
    if not (target.startswith("+") or parse_ref(target)):
        raise UsageError(t("{target} is neither +phone nor a conversation number", target=repr(target)))
    template = req.args[1] if len(req.args) > 1 else None
    return await desk.start(req.user, target, template, req.args[2:])


@verb("help", "", N_("this list"))
async def show_help(desk: Desk, req: Request) -> str:
    return help_text()
