"""One registry behind every slash command: ``/claim``, ``/transfer``, ``/close``, ``/history`` and
``/traza <verb>`` are the same verbs (``/claim 1042`` is ``/traza claim 1042``).

``run`` parses the text, runs the verb against a ``Desk`` (the port the composition root implements
over the database) and always returns the sentence to show: a result, a refusal, or the verb's usage
line. Nothing a user can type produces a stack trace; unexpected failures answer a short apology
and are logged.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bridge.domain import parse_ref
from bridge.errors import InvalidInput
from bridge.i18n import t

log = logging.getLogger("traza.commands")
_PHONE_PART = re.compile(r"^[\d().\-]+$")


class Desk(Protocol):
    """What commands need from the rest of Traza (implemented in the composition root)."""

    async def claim(self, ref: int, user: str) -> str: ...
    async def transfer(
        self, ref: int, user: str, team_id: str | None, agent: str | None, reason: str
    ) -> str: ...
    async def close(self, ref: int, user: str, reason: str) -> str: ...
    async def reopen(self, ref: int, user: str) -> str: ...
    async def note(self, ref: int, user: str, text: str) -> str: ...
    async def open_ref_for_phone(self, phone: str) -> int | None: ...
    async def history(self, user: str, target: str) -> str: ...
    async def search(self, user: str, words: str) -> str: ...
    async def stats(self, user: str, team: str | None, period: str) -> str: ...
    async def start(self, user: str, target: str, template: str | None, params: list[str]) -> str: ...
    async def tag(self, ref: int, user: str, changes: list[str]) -> str: ...
    async def set_away(self, user: str, away: bool) -> str: ...


@dataclass(frozen=True, slots=True)
class Request:
    user: str
    channel: str
    args: list[str]
    rest: str  # the text after the verb, as typed


Handler = Callable[[Desk, Request], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Verb:
    name: str
    usage: str
    summary: str
    handler: Handler

    def usage_line(self) -> str:
        command = f"`/traza {self.name} {_escaped(self.usage)}`".replace("  ", " ").replace(" `", "`")
        return t("Usage: {command}", command=command) + f" — {t(self.summary)}"


VERBS: dict[str, Verb] = {}
SHORT_COMMANDS = {"/claim": "claim", "/transfer": "transfer", "/close": "close", "/history": "history"}
ALL_COMMANDS = frozenset({*SHORT_COMMANDS, "/traza"})


def verb(name: str, usage: str, summary: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        VERBS[name] = Verb(name, usage, summary, handler)
        return handler

    return register


class UsageError(InvalidInput):
    """Wrong or missing arguments: the verb's usage line is shown."""


def split_args(text: str) -> list[str]:
    """Words of a command, with a phone typed with spaces (``+54 9 11 5555-1234``) kept as one word."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    joined: list[str] = []
    for word in words:
        last = joined[-1] if joined else ""
        if last.startswith("+") and _PHONE_PART.match(last[1:]) and _PHONE_PART.match(word):
            joined[-1] += word
        else:
            joined.append(word)
    return joined


async def resolve_ref(desk: Desk, token: str, *, phone_ok: bool = True) -> int:
    """``1042``, ``#1042`` or (where allowed) ``+phone`` for the customer's open conversation."""
    ref = parse_ref(token)
    if ref is not None:
        return int(ref)
    if phone_ok and token.startswith("+"):
        found = await desk.open_ref_for_phone(token)
        if found is None:
            raise InvalidInput(t("No open conversation with {phone}.", phone=token))
        return found
    raise UsageError(t("{token} is not a conversation number", token=repr(token)))


async def run(desk: Desk, command: str, text: str, user: str, channel: str) -> str:
    """The answer to one slash command, always a sentence (never an exception)."""
    args = split_args(text.strip())
    name = SHORT_COMMANDS.get(command)
    if name is None:
        if command != "/traza":
            return t("Unknown command {command}. Try `/traza help`.", command=command)
        if not args:
            return help_text()
        name, args = args[0].lower(), args[1:]
        text = text.strip()[len(name) :].strip()
    found = VERBS.get(name)
    if found is None:
        return t("Unknown verb `{verb}`.", verb=name[:40]) + " " + help_text()
    try:
        return await found.handler(desk, Request(user, channel, args, text.strip()))
    except UsageError as exc:
        return f"{exc}. {found.usage_line()}" if str(exc) else found.usage_line()
    except InvalidInput as exc:
        return str(exc)
    except Exception:
        log.exception("command %s %r failed", command, text)
        return t(
            "Sorry, that did not work because of an internal error; it has been logged. Try again shortly."
        )


def _escaped(usage: str) -> str:
    """Slack reads ``<ref|+phone>`` as a link even in code spans: escape the angle brackets."""
    return usage.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def help_text() -> str:
    lines = [t("*Traza commands* (`/claim`, `/transfer`, `/close` and `/history` are shortcuts):")]
    lines += [
        f"• `/traza {v.name} {_escaped(v.usage)}`".replace(" `", "`") + f" — {t(v.summary)}"
        for v in VERBS.values()
    ]
    lines.append(
        t(
            "In a conversation's thread use the card's buttons, the message shortcuts (⋯ menu), or mention "
            "the app: `@Traza close resuelto` acts on that thread's conversation."
        )
    )
    return "\n".join(lines)
