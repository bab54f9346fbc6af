"""The canned-reply picker: the ``views.open`` modal behind the card's "Canned reply" button.

Kept apart from ``bot.cards`` (the card and the older modals) so that module stays readable; it
shares the card's Block Kit helpers and Slack's limits.
"""

from __future__ import annotations

from typing import Any, Final

from bot.blocks import (
    OPTION_TEXT_MAX,
    OPTION_VALUE_MAX,
    SELECT_OPTIONS_MAX,
    VIEW_TITLE_MAX,
    clip,
    mrkdwn_section,
    plain,
)
from bridge.i18n import t

CANNED_MODAL_CALLBACK_ID: Final = "conv_canned_modal"
CANNED_BLOCK: Final = "canned_reply"
CANNED_ACTION: Final = "canned"


def canned_modal(ref: int, replies: list[tuple[str, str, str]], private_metadata: str) -> dict[str, Any]:
    """The ``views.open`` view to pick one of ``replies`` (``(id, title, text)``) for conversation ``ref``."""
    if not replies:
        raise ValueError("canned_modal needs at least one canned reply")
    options = [
        {
            "text": plain(clip(title, OPTION_TEXT_MAX)),
            "value": reply_id[:OPTION_VALUE_MAX],
            "description": plain(clip(" ".join(text.split()), OPTION_TEXT_MAX)),
        }
        for reply_id, title, text in replies[:SELECT_OPTIONS_MAX]
    ]
    return {
        "type": "modal",
        "callback_id": CANNED_MODAL_CALLBACK_ID,
        "private_metadata": private_metadata,
        "title": plain(clip(t("Reply to #{ref}", ref=ref), VIEW_TITLE_MAX)),
        "submit": plain(t("Send")),
        "close": plain(t("Cancel")),
        "blocks": [
            mrkdwn_section(
                "canned_intro",
                t(
                    "Send a canned reply to the customer of *#{ref}*, stamped with your name. "
                    "Sending makes you its holder if nobody holds it.",
                    ref=ref,
                ),
            ),
            {
                "type": "input",
                "block_id": CANNED_BLOCK,
                "label": plain(t("Canned reply")),
                "element": {
                    "type": "static_select",
                    "action_id": CANNED_ACTION,
                    "placeholder": plain(t("Choose a reply")),
                    "options": options,
                },
            },
        ],
    }
