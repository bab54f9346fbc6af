"""Block Kit primitives and Slack's limits, shared by the card and the modals: plain and mrkdwn text
objects, sections, fields and buttons, and the escaping and clipping that keep user text inside the
limits (section text 3000, field 2000, button text 75, confirm text 300, view title 24)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

JsonDict = dict[str, Any]

SECTION_TEXT_MAX: Final = 3000
SECTION_FIELD_MAX: Final = 2000
FALLBACK_TEXT_MAX: Final = 1000
CONFIRM_TEXT_MAX: Final = 300
OPTION_TEXT_MAX: Final = 75
OPTION_VALUE_MAX: Final = 150
SELECT_OPTIONS_MAX: Final = 100
PRIVATE_METADATA_MAX: Final = 3000
VIEW_TITLE_MAX: Final = 24
REASON_MAX: Final = 1000
CONTEXT_ELEMENTS_MAX: Final = 10

_ELLIPSIS: Final = "…"
_ESCAPES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape_mrkdwn(text: str, limit: int | None = None) -> str:
    """Escape ``&``, ``<`` and ``>``; past ``limit`` chars, clip with ``…`` between entities."""
    escaped = "".join(_ESCAPES.get(char, char) for char in text)
    if limit is None or len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for char in text:
        piece = _ESCAPES.get(char, char)
        if used + len(piece) > limit - len(_ELLIPSIS):
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + _ELLIPSIS


def plain(text: str) -> JsonDict:
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn_section(block_id: str, text: str) -> JsonDict:
    return {
        "type": "section",
        "block_id": block_id,
        "text": {"type": "mrkdwn", "text": text[:SECTION_TEXT_MAX]},
    }


def field(label: str, value: str) -> JsonDict:
    return {"type": "mrkdwn", "text": f"*{label}*\n{value}"[:SECTION_FIELD_MAX]}


def button(action_id: str, label: str, value: str) -> JsonDict:
    return {"type": "button", "action_id": action_id, "text": plain(label), "value": value}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def as_utc(moment: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
