"""From Slack to WhatsApp: mrkdwn translation, the agent stamp, and splitting long replies.

Slack and WhatsApp share ``*bold*``, ``_italic_`` and ``~strike~``; the rest is translated: links
``<url|label>`` become ``label (url)``, user mentions become ``@Name``, channel mentions ``#name``,
Slack's ``&amp; &lt; &gt;`` escapes are undone, ``:emoji_codes:`` become the characters, and code
spans keep WhatsApp's monospace markers. Text over WhatsApp's 4096-character limit is split on
paragraph or word boundaries into numbered parts, never cut silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import emoji

WHATSAPP_TEXT_LIMIT = 4096
MAX_PARTS = 5
_LINK = re.compile(r"<((?:https?|mailto|tel):[^|>]+)(?:\|([^>]*))?>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")


def slack_to_whatsapp(text: str, user_name: Callable[[str], str] | None = None) -> str:
    def link(m: re.Match[str]) -> str:
        url, label = m.group(1), m.group(2)
        shown = url.removeprefix("mailto:").removeprefix("tel:")
        return f"{label} ({shown})" if label and label != shown else shown

    def user(m: re.Match[str]) -> str:
        name = m.group(2) or (user_name(m.group(1)) if user_name else m.group(1))
        return f"@{name}"

    out = _LINK.sub(link, text)
    out = _USER.sub(user, out)
    out = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", out)
    out = _SPECIAL.sub(lambda m: f"@{m.group(1)}", out)
    out = _SUBTEAM.sub(lambda m: f"@{m.group(1) or 'team'}", out)
    out = out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return emoji.emojize(out, language="alias")


def stamp(template: str, *, agent: str, team: str, text: str) -> str:
    """Apply the ``traza.yml`` stamp; placeholders are replaced literally (braces in text are safe)."""
    return template.replace("{agent}", agent).replace("{team}", team).replace("{text}", text)


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters on paragraph, line or word breaks."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts
