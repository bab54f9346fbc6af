"""The App Home tab: each agent's queue (what they hold, what waits in their teams) and their teams'
numbers (open and waiting now; today's median first response and SLA breaches, UTC day)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.blocks import escape_mrkdwn
from bot.cards import format_duration
from bridge.domain import ConversationView
from bridge.i18n import t
from store.daily import TeamNumbers


def _line(view: ConversationView, now: datetime) -> str:
    waiting = view.waiting_since()
    wait = (
        " · " + t("waiting {duration}", duration=format_duration((now - waiting).total_seconds()))
        if waiting
        else ""
    )
    window = "" if view.window_open(now) else " · " + t("window closed")
    link = (
        f"https://slack.com/archives/{view.slack_channel}/p{view.slack_thread_ts.replace('.', '')}"
        if view.slack_thread_ts
        else ""
    )
    ref = f"<{link}|#{int(view.ref)}>" if link else f"#{int(view.ref)}"
    who = f"{escape_mrkdwn(view.contact_name, 80)} · {escape_mrkdwn(view.team_name, 60)}"
    return f"• {ref} · {who}{wait}{window}"


def _numbers_line(n: TeamNumbers) -> str:
    median = (
        format_duration(n.first_response_median_today) if n.first_response_median_today is not None else "—"
    )
    alarm = " :alarm_clock:" if n.sla_breaches_today else ""
    line = t(
        "*{team}* · {open} open · {waiting} waiting · median first response today {median} · "
        "SLA breaches today {breaches}",
        team=escape_mrkdwn(n.name, 60),
        open=n.open,
        waiting=n.waiting,
        median=median,
        breaches=n.sla_breaches_today,
    )
    return line + alarm


def home_view(
    held: list[ConversationView],
    waiting: list[ConversationView],
    now: datetime,
    numbers: list[TeamNumbers] | None = None,
    *,
    away: bool = False,
) -> dict[str, Any]:
    def section(title: str, views: list[ConversationView], empty: str) -> list[dict[str, Any]]:
        text = "\n".join(_line(v, now) for v in views) if views else f"_{empty}_"
        return [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}},
        ]

    status: list[dict[str, Any]] = []
    if away:
        note = ":zzz: " + t(
            "You are *away*: automatic assignment passes you over. `/traza back` when you return."
        )
        status = [{"type": "section", "text": {"type": "mrkdwn", "text": note}}]
    blocks = [
        *status,
        *section(
            t("Your conversations ({count})", count=len(held)), held, t("You hold no open conversation.")
        ),
        {"type": "divider"},
        *section(
            t("Waiting in your teams ({count})", count=len(waiting)), waiting, t("Nobody is waiting. 🎉")
        ),
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": t("Your teams today")}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "\n".join(_numbers_line(n) for n in numbers)[:2900]
                if numbers
                else "_" + t("You are in no team.") + "_",
            },
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": t(
                        "Claim with the card's button or `/claim &lt;ref&gt;`; "
                        "`/traza help` lists every command."
                    ),
                }
            ],
        },
    ]
    return {"type": "home", "blocks": blocks}
