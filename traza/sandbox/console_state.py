"""What the console shows, read from the stand-ins: the phone's conversation, the team channels with
their threads, each user's private answers, open modal and App Home.

``ConsoleLog`` keeps the little the stand-ins cannot know (what the phone sent, which Slack user a
``response_url`` or ``trigger_id`` belongs to, which modals were closed); ``ConsoleView`` turns the
fake Slack's and fake Graph's recorded state into the JSON the page polls. Reading only: nothing
here talks to Traza.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bridge.config import TrazaConfig
from traza.sandbox.fakes.graph import FakeGraph
from traza.sandbox.fakes.slack import FakeSlack
from traza.sandbox.ticks import DeliveryTicks

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Cast:
    """The sandbox's names for people and numbers (the ``sandbox:`` key of its traza.yml)."""

    people: dict[str, str] = field(default_factory=dict)
    display_numbers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, data: object) -> Cast:
        section = data.get("sandbox") if isinstance(data, dict) else None
        section = section if isinstance(section, dict) else {}
        people = section.get("people")
        people = people if isinstance(people, dict) else {}
        numbers = section.get("display_numbers")
        numbers = numbers if isinstance(numbers, dict) else {}
        return cls({str(k): str(v) for k, v in people.items()}, {str(k): str(v) for k, v in numbers.items()})


class ConsoleLog:
    """Thread-safe record of what the console did on the users' behalf."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inbound: list[JsonDict] = []
        self.answers: list[JsonDict] = []
        self.owners: dict[str, str] = {}
        self.closed_views: set[str] = set()

    def phone_sent(self, entry: JsonDict) -> None:
        with self._lock:
            self.inbound.append({**entry, "at": time.time()})

    def answer(self, user: str, channel: str, text: str) -> None:
        with self._lock:
            self.answers.append({"user": user, "channel": channel, "text": text, "at": time.time()})

    def own(self, token: str, user: str) -> None:
        """``token`` (a response_url token or trigger_id) was handed out for ``user``."""
        with self._lock:
            self.owners[token] = user

    def close_view(self, view_id: str) -> None:
        with self._lock:
            self.closed_views.add(view_id)

    def snapshot(self) -> tuple[list[JsonDict], list[JsonDict], dict[str, str], set[str]]:
        with self._lock:
            return list(self.inbound), list(self.answers), dict(self.owners), set(self.closed_views)


class ConsoleView:
    def __init__(
        self,
        config: TrazaConfig,
        cast: Cast,
        slack: FakeSlack,
        graph: FakeGraph,
        ticks: DeliveryTicks,
        log: ConsoleLog,
    ) -> None:
        self.config, self.cast, self.slack, self.graph, self.ticks, self.log = (
            config,
            cast,
            slack,
            graph,
            ticks,
            log,
        )

    def setup(self) -> JsonDict:
        """Teams, people (leads first) and business numbers, for the pickers."""
        people: dict[str, JsonDict] = {}
        for team in self.config.teams:
            for user, role in [
                *((u, "lead") for u in sorted(team.leads)),
                *((u, "agent") for u in sorted(team.members)),
            ]:
                entry = people.setdefault(user, {"id": user, "name": self.name_of(user), "roles": []})
                entry["roles"].append(f"{role} · {team.name}")
        for admin in self.config.admins:
            people.setdefault(admin, {"id": admin, "name": self.name_of(admin), "roles": ["admin"]})
        return {
            "teams": [
                {"id": t.id, "name": t.name, "channel": t.slack_channel, "leads": sorted(t.leads)}
                for t in self.config.teams
            ],
            "people": list(people.values()),
            "numbers": [
                {
                    "id": n.phone_number_id,
                    "name": n.name or n.phone_number_id,
                    "display": self.cast.display_numbers.get(n.phone_number_id, n.phone_number_id),
                }
                for n in self.config.numbers
            ],
        }

    def name_of(self, user: str) -> str:
        return self.cast.people.get(user, user)

    def state(self, user: str, wa_id: str) -> JsonDict:
        inbound, answers, owners, closed = self.log.snapshot()
        return {
            "phone": self._phone(wa_id, inbound),
            "channels": {t.slack_channel: self._channel(t.slack_channel) for t in self.config.teams},
            "private": self._private(user, answers, owners),
            "modal": self._modal(user, owners, closed),
            "home": self._home(user),
        }

    def _phone(self, wa_id: str, inbound: list[JsonDict]) -> list[JsonDict]:
        read = {str(m.get("message_id")) for m in self.graph.read_marks()}
        items = [
            {**m, "dir": "in", "status": "read" if m["wamid"] in read else "sent"}
            for m in inbound
            if m["wa_id"] == wa_id
        ]
        for send in self.graph.sends():
            if re.sub(r"\D", "", send.to or "") != wa_id:
                continue
            items.append(
                {
                    "dir": "out",
                    "wamid": send.wamid,
                    "number": send.phone_number_id,
                    "kind": send.type,
                    "text": _send_text(send.body),
                    "media_id": _media_id(send.body),
                    "status": self.ticks.status_of(send.wamid) or "pending",
                    "at": send.at,
                }
            )
        return sorted(items, key=lambda m: float(m["at"]))

    def _channel(self, channel: str) -> list[JsonDict]:
        return [
            {**parent, "replies": self.slack.thread(channel, parent["ts"])}
            for parent in self.slack.messages_in(channel)
        ]

    def _private(self, user: str, answers: list[JsonDict], owners: dict[str, str]) -> list[JsonDict]:
        items = [a for a in answers if a["user"] == user]
        for call in self.slack.calls_to("chat.postEphemeral"):
            if call.status == 200 and call.args.get("user") == user:
                items.append({**_shown(call.args), "channel": call.args.get("channel"), "at": call.at})
        for call in self.slack.calls_to("response_url"):
            if (
                owners.get(str(call.args.get("_token"))) == user
                and call.args.get("response_type") != "in_channel"
            ):
                items.append({**_shown(call.args), "channel": None, "at": call.at})
        return sorted(items, key=lambda a: float(a["at"]))

    def open_modal(self, user: str) -> JsonDict | None:
        """The last modal Traza opened for ``user`` that was neither submitted nor closed."""
        _inbound, _answers, owners, closed = self.log.snapshot()
        return self._modal(user, owners, closed)

    def _modal(self, user: str, owners: dict[str, str], closed: set[str]) -> JsonDict | None:
        for call in reversed(self.slack.calls_to("views.open")):
            view = (call.response or {}).get("view") or {}
            if owners.get(str(call.args.get("trigger_id"))) == user and view.get("id") not in closed:
                return dict(view)
        return None

    def _home(self, user: str) -> JsonDict | None:
        published = [v for v in self.slack.views("views.publish") if v["args"].get("user_id") == user]
        return dict(published[-1]["args"]["view"]) if published else None


def _shown(args: JsonDict) -> JsonDict:
    return {"text": str(args.get("text") or ""), "blocks": args.get("blocks") or []}


def _media_id(body: JsonDict) -> str | None:
    part = body.get(str(body.get("type", "text")))
    return str(part["id"]) if isinstance(part, dict) and part.get("id") else None


def _send_text(body: JsonDict) -> str:
    kind = str(body.get("type", "text"))
    part = body.get(kind)
    if kind == "text" and isinstance(part, dict):
        return str(part.get("body", ""))
    if kind == "template" and isinstance(part, dict):
        params = [
            str(p.get("text", ""))
            for c in part.get("components") or []
            for p in (c.get("parameters") or [])
            if isinstance(p, dict)
        ]
        return f"[template {part.get('name')}] {' · '.join(params)}".strip()
    if isinstance(part, dict):
        name = part.get("filename") or part.get("link") or part.get("id") or ""
        caption = part.get("caption") or part.get("emoji") or ""
        return f"[{kind}] {name} {caption}".strip()
    return f"[{kind}]"
