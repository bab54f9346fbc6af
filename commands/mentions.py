"""In-thread mention commands. Slack runs no slash commands inside threads, so ``@Traza close no
answer`` written in a conversation's thread stands for ``/traza close <ref> no answer`` for that
thread's conversation. A verb that takes a conversation gets the thread's ref unless the text
already names one (a ref or a ``+phone``); other verbs (``search``, ``stats``, ``help``) run as typed.
"""

from __future__ import annotations

import re

from bridge.domain import parse_ref
from commands.registry import VERBS

_LEADING_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>[\s:,]*")
_TAKES_A_CONVERSATION = ("<ref", "<+phone|ref>")


def mention_command(text: str, thread_ref: int | None) -> str:
    """The ``/traza`` text that a mention of the app in a thread stands for."""
    body = _LEADING_MENTION.sub("", text, count=1).strip()
    if not body:
        return "help"
    name, _, rest = body.partition(" ")
    found = VERBS.get(name.lower())
    if found is None or thread_ref is None or not found.usage.startswith(_TAKES_A_CONVERSATION):
        return body
    first = rest.split(maxsplit=1)[0] if rest.strip() else ""
    if first and (parse_ref(first) is not None or first.startswith("+")):
        return body
    return f"{name.lower()} {thread_ref} {rest.strip()}".strip()
