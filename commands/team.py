"""The verbs of the team's everyday work: labels on a conversation, and being away from assignment."""

from __future__ import annotations

from bridge.i18n import N_, t
from commands.registry import Desk, Request, UsageError, resolve_ref, verb


@verb("tag", "<ref> +label -label …", N_("add (+) or remove (-) labels on a conversation"))
async def tag(desk: Desk, req: Request) -> str:
    if len(req.args) < 2:
        raise UsageError("")
    ref = await resolve_ref(desk, req.args[0], phone_ok=False)
    return await desk.tag(ref, req.user, req.args[1:])


@verb("away", "", N_("automatic assignment passes you over until `/traza back`"))
async def away(desk: Desk, req: Request) -> str:
    if req.args:
        raise UsageError(t("unexpected {word}", word=repr(req.args[0])))
    return await desk.set_away(req.user, True)


@verb("back", "", N_("automatic assignment includes you again"))
async def back(desk: Desk, req: Request) -> str:
    if req.args:
        raise UsageError(t("unexpected {word}", word=repr(req.args[0])))
    return await desk.set_away(req.user, False)
