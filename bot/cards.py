"""Block Kit builders for the conversation card and the transfer modal.

Pure functions from domain views to plain, JSON-ready dicts: no Slack client, no I/O. The card is
the thread's parent message (``chat.postMessage`` / ``chat.update`` arguments ``text``, ``blocks``
and ``metadata``); the modal is the ``view`` argument of ``views.open``.

Every text a user or a customer typed is escaped for mrkdwn (``&``, ``<``, ``>``) and clipped so
each block stays inside Slack's limits (section text 3000, field 2000, button text 75, confirm
text 300).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Final

from bot.blocks import (
    CONFIRM_TEXT_MAX,
    CONTEXT_ELEMENTS_MAX,
    FALLBACK_TEXT_MAX,
    OPTION_TEXT_MAX,
    OPTION_VALUE_MAX,
    PRIVATE_METADATA_MAX,
    REASON_MAX,
    SECTION_FIELD_MAX,
    SECTION_TEXT_MAX,
    SELECT_OPTIONS_MAX,
    VIEW_TITLE_MAX,
    JsonDict,
    as_utc,
    button,
    clip,
    escape_mrkdwn,
    field,
    mrkdwn_section,
    plain,
)
from bridge.domain import ConversationState, ConversationView
from bridge.i18n import N_, t
from bridge.sla import flag_text

CARD_EVENT_TYPE: Final = "traza_card"
"""``metadata.event_type`` of every card; its payload names the conversation (``ref``, id)."""

ACTION_CLAIM: Final = "conv_claim"
ACTION_TRANSFER: Final = "conv_transfer"
ACTION_CLOSE: Final = "conv_close"
ACTION_REOPEN: Final = "conv_reopen"
ACTION_TEMPLATE: Final = "conv_template"
ACTION_CANNED: Final = "conv_canned"
TEMPLATE_MODAL_CALLBACK_ID: Final = "conv_template_modal"
TEMPLATE_NAME_BLOCK: Final = "template_name"
TEMPLATE_PARAMS_BLOCK: Final = "template_params"

TRANSFER_MODAL_CALLBACK_ID: Final = "conv_transfer_modal"
TRANSFER_TEAM_BLOCK: Final = "transfer_team"
TRANSFER_TEAM_ACTION: Final = "team"
TRANSFER_AGENT_BLOCK: Final = "transfer_agent"
TRANSFER_AGENT_ACTION: Final = "agent"
TRANSFER_REASON_BLOCK: Final = "transfer_reason"
TRANSFER_REASON_ACTION: Final = "reason"


_NAME_MAX: Final = 200
_PHONE_MAX: Final = 64

_STATE_LABEL: Final = {
    ConversationState.OPEN: N_(":large_yellow_circle: open"),
    ConversationState.ASSIGNED: N_(":large_blue_circle: assigned"),
    ConversationState.CLOSED: N_(":white_check_mark: closed"),
}

_STATE_NAME: Final = {
    ConversationState.OPEN: N_("open"),
    ConversationState.ASSIGNED: N_("assigned"),
    ConversationState.CLOSED: N_("closed"),
}


def format_duration(seconds: float) -> str:
    """A short human duration, rounded down: ``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``.

    Negative or non-finite input reads as ``0 s`` (a clock skew must not print nonsense on a card).
    """
    total = int(seconds) if math.isfinite(seconds) and seconds > 0 else 0
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def card_message(view: ConversationView, now: datetime) -> dict[str, Any]:
    """The card's ``text``, ``blocks`` and ``metadata`` for ``chat.postMessage``/``chat.update``."""
    blocks: list[JsonDict] = [_summary_section(view, now)]
    if overdue := view.sla_overdue(as_utc(now)):
        blocks.append(
            {
                "type": "context",
                "block_id": "conv_sla",
                "elements": [{"type": "mrkdwn", "text": flag_text(view, overdue)}],
            }
        )
    if crm := _crm_context(view):
        blocks.append(crm)
    if view.routing_rule:
        blocks.append(_routing_context(view.routing_rule))
    if view.state is ConversationState.CLOSED:
        blocks.append(_closed_context(view))
    if view.labels or view.earlier:
        blocks.append(_labels_and_earlier(view))
    actions = _actions(view)
    if view.state is not ConversationState.CLOSED and not view.window_open(now):
        actions["elements"].append(button(ACTION_TEMPLATE, t("Send template"), str(int(view.ref))))
    blocks.append(actions)
    return {
        "text": _fallback_text(view),
        "blocks": blocks,
        "metadata": {
            "event_type": CARD_EVENT_TYPE,
            "event_payload": {"ref": int(view.ref), "conversation_id": view.id},
        },
    }


def template_modal(ref: int, private_metadata: str) -> dict[str, Any]:
    """The ``views.open`` view for sending an approved template to conversation ``ref``."""
    name = {
        "type": "input",
        "block_id": TEMPLATE_NAME_BLOCK,
        "label": plain(t("Template name")),
        "hint": plain(t("An approved template; `/traza start` without a name lists them.")),
        "element": {"type": "plain_text_input", "action_id": "value"},
    }
    params = {
        "type": "input",
        "block_id": TEMPLATE_PARAMS_BLOCK,
        "optional": True,
        "label": plain(t("Parameters, one per line")),
        "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
    }
    return {
        "type": "modal",
        "callback_id": TEMPLATE_MODAL_CALLBACK_ID,
        "private_metadata": private_metadata,
        "title": plain(t("Template to #{ref}", ref=ref)[:VIEW_TITLE_MAX]),
        "submit": plain(t("Send")),
        "close": plain(t("Cancel")),
        "blocks": [name, params],
    }


def transfer_modal(ref: int, teams: list[tuple[str, str]], private_metadata: str) -> dict[str, Any]:
    """The ``views.open`` view for transferring conversation ``ref``.

    ``teams`` holds ``(team_id, team_name)`` pairs in display order (at most 100 are offered).
    ``private_metadata`` travels back untouched in the ``view_submission``.
    Raises ``ValueError`` when there is no team to offer or the metadata exceeds 3000 characters.
    """
    if not teams:
        raise ValueError("transfer_modal needs at least one team to offer")
    if len(private_metadata) > PRIVATE_METADATA_MAX:
        raise ValueError(f"private_metadata exceeds {PRIVATE_METADATA_MAX} characters")
    return {
        "type": "modal",
        "callback_id": TRANSFER_MODAL_CALLBACK_ID,
        "private_metadata": private_metadata,
        "title": plain(clip(t("Transfer #{ref}", ref=ref), VIEW_TITLE_MAX)),
        "submit": plain(t("Transfer")),
        "close": plain(t("Cancel")),
        "blocks": [
            mrkdwn_section(
                "transfer_intro",
                t("Move *#{ref}* to another team, or to one agent of that team.", ref=ref),
            ),
            _team_input(teams),
            _agent_input(),
            _reason_input(),
        ],
    }


# --- card parts -------------------------------------------------------------------------------


def _summary_section(view: ConversationView, now: datetime) -> JsonDict:
    header = " · ".join(
        (
            f"*#{int(view.ref)}*",
            escape_mrkdwn(view.contact_name, _NAME_MAX),
            escape_mrkdwn(view.contact_display, _PHONE_MAX),
        )
    )
    fields = [
        field(t("Business number"), escape_mrkdwn(view.business_number, _PHONE_MAX)),
        field(t("Team"), escape_mrkdwn(view.team_name, _NAME_MAX)),
        field(t("Assignee"), f"<@{view.assignee}>" if view.assignee else t("unassigned")),
        field(t("State"), t(_STATE_LABEL[view.state])),
        field(t("Waiting"), _waiting_text(view, now)),
        field(t("24-hour window"), _window_text(view, now)),
    ]
    section = mrkdwn_section(f"conv_summary_{view.state.value}", header)
    section["fields"] = fields
    return section


def _waiting_text(view: ConversationView, now: datetime) -> str:
    since = view.waiting_since()
    if since is None:
        return "—"
    elapsed = (as_utc(now) - as_utc(since)).total_seconds()
    return t("waiting {duration}", duration=format_duration(elapsed))


def _window_text(view: ConversationView, now: datetime) -> str:
    ends = view.window_ends_at
    if ends is None or not as_utc(now) < as_utc(ends):
        return t("window closed — templates only")
    return t("window open until {time} UTC", time=f"{as_utc(ends):%H:%M}")


def _crm_context(view: ConversationView) -> JsonDict | None:
    """The customer's CRM facts (one element per fact: Account, Owner, Stage…), or why the lookup failed."""
    if view.crm_problem:
        text = ":warning: " + t("CRM lookup failed: {reason}", reason=escape_mrkdwn(view.crm_problem, 300))
        elements = [{"type": "mrkdwn", "text": text}]
    elif view.customer_facts:
        elements = [
            {"type": "mrkdwn", "text": f"*{_fact_label(name)}:* {escape_mrkdwn(value, 300)}"}
            for name, value in view.customer_facts[:CONTEXT_ELEMENTS_MAX]
        ]
    else:
        return None
    return {"type": "context", "block_id": "conv_crm", "elements": elements}


def _fact_label(name: str) -> str:
    return escape_mrkdwn(name.replace("_", " ").capitalize(), 80)


def _routing_context(rule: str) -> JsonDict:
    """Why the conversation is in this team: the routing rule and its reason, as recorded."""
    return {
        "type": "context",
        "block_id": "conv_routing",
        "elements": [{"type": "mrkdwn", "text": f":compass: {escape_mrkdwn(rule, SECTION_FIELD_MAX)}"}],
    }


def _closed_context(view: ConversationView) -> JsonDict:
    who = f"<@{view.closed_by}>" if view.closed_by else "Traza"
    text = (
        t("Closed by {who} at {time} UTC", who=who, time=f"{as_utc(view.closed_at):%Y-%m-%d %H:%M}")
        if view.closed_at
        else t("Closed by {who}", who=who)
    )
    return {
        "type": "context",
        "block_id": "conv_closed_by",
        "elements": [{"type": "mrkdwn", "text": text}],
    }


def _labels_and_earlier(view: ConversationView) -> JsonDict:
    parts = []
    if view.labels:
        parts.append(t("Labels:") + " " + " ".join(f"`{escape_mrkdwn(label)}`" for label in view.labels))
    if view.earlier:
        links = []
        for old in view.earlier:
            name = f"#{int(old.ref)} ({as_utc(old.opened_at):%Y-%m-%d})"
            links.append(f"<{old.permalink}|{name}>" if old.permalink else name)
        parts.append(t("Earlier:") + " " + ", ".join(links))
    return {
        "type": "context",
        "block_id": "conv_labels_earlier",
        "elements": [{"type": "mrkdwn", "text": " · ".join(parts)[:SECTION_TEXT_MAX]}],
    }


def _actions(view: ConversationView) -> JsonDict:
    value = str(int(view.ref))
    if view.state is ConversationState.CLOSED:
        elements = [button(ACTION_REOPEN, t("Reopen"), value)]
    else:
        claim = button(ACTION_CLAIM, t("Claim"), value)
        claim["style"] = "primary"
        close = button(ACTION_CLOSE, t("Close"), value)
        close["style"] = "danger"
        close["confirm"] = _close_confirm(view)
        canned = button(ACTION_CANNED, t("Canned reply"), value)
        elements = [claim, button(ACTION_TRANSFER, t("Transfer"), value), canned, close]
    return {
        "type": "actions",
        "block_id": f"conv_actions_{view.state.value}",
        "elements": elements,
    }


def _close_confirm(view: ConversationView) -> JsonDict:
    name = escape_mrkdwn(view.contact_name, 80)
    text = t(
        "Close *#{ref}* with {name}? If the customer writes again, a new conversation opens.",
        ref=int(view.ref),
        name=name,
    )
    return {
        "title": plain(t("Close conversation?")),
        "text": {"type": "mrkdwn", "text": text[:CONFIRM_TEXT_MAX]},
        "confirm": plain(t("Close")),
        "deny": plain(t("Cancel")),
    }


def _fallback_text(view: ConversationView) -> str:
    holder = f" · <@{view.assignee}>" if view.assignee else ""
    text = (
        f"#{int(view.ref)} · {escape_mrkdwn(view.contact_name, _NAME_MAX)} · "
        f"{escape_mrkdwn(view.contact_display, _PHONE_MAX)} · {t(_STATE_NAME[view.state])}{holder}"
    )
    return text[:FALLBACK_TEXT_MAX]


# --- modal parts ------------------------------------------------------------------------------


def _team_input(teams: list[tuple[str, str]]) -> JsonDict:
    options = [
        {"text": plain(clip(name, OPTION_TEXT_MAX)), "value": team_id[:OPTION_VALUE_MAX]}
        for team_id, name in teams[:SELECT_OPTIONS_MAX]
    ]
    return {
        "type": "input",
        "block_id": TRANSFER_TEAM_BLOCK,
        "label": plain(t("Team")),
        "element": {
            "type": "static_select",
            "action_id": TRANSFER_TEAM_ACTION,
            "placeholder": plain(t("Choose a team")),
            "options": options,
        },
    }


def _agent_input() -> JsonDict:
    return {
        "type": "input",
        "block_id": TRANSFER_AGENT_BLOCK,
        "optional": True,
        "label": plain(t("Agent")),
        "hint": plain(t("Leave empty to hand the conversation to the whole team.")),
        "element": {
            "type": "users_select",
            "action_id": TRANSFER_AGENT_ACTION,
            "placeholder": plain(t("Choose an agent")),
        },
    }


def _reason_input() -> JsonDict:
    return {
        "type": "input",
        "block_id": TRANSFER_REASON_BLOCK,
        "optional": True,
        "label": plain(t("Reason")),
        "element": {
            "type": "plain_text_input",
            "action_id": TRANSFER_REASON_ACTION,
            "multiline": True,
            "max_length": REASON_MAX,
            "placeholder": plain(t("Why it moves (shown in the thread)")),
        },
    }


# --- small helpers ----------------------------------------------------------------------------
