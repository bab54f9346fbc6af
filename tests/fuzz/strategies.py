"""Hypothesis strategies for hostile input: arbitrary JSON, JSON shaped like Meta's and Slack's, and
real payloads (``tests/fixtures``) mutated at random paths.

A mutation picks one place in a real payload and replaces, deletes, retypes or blows it up, so most
examples get past the first checks and reach the parsers' inner branches.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.fixture_files import wa_json, wa_names

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SLACK_FIXTURES = FIXTURES / "slack"

# Keys the parsers look up: drawing them makes arbitrary objects meet real branches.
META_KEYS = [
    "object", "entry", "id", "changes", "field", "value", "metadata", "phone_number_id",
    "display_phone_number", "messages", "statuses", "errors", "contacts", "wa_id", "user_id", "profile",
    "name", "from", "from_user_id", "type", "timestamp", "text", "body", "context", "referral", "image",
    "interactive", "button_reply", "reaction", "message_id", "emoji", "edit", "message", "revoke",
    "original_message_id", "system", "order", "product_items", "status", "recipient_id", "code", "title",
]  # fmt: skip
SLACK_KEYS = [
    "type", "event", "event_id", "event_time", "team_id", "api_app_id", "challenge", "token", "user",
    "channel", "ts", "thread_ts", "text", "subtype", "bot_id", "actions", "action_id", "value", "container",
    "message_ts", "message", "callback_id", "view", "private_metadata", "state", "values", "trigger_id",
    "tab", "selected_option", "selected_user", "id",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "0", "1775041200", "messages", "text", "whatsapp_business_account", "\x00"])
)


def json_values(keys: list[str] | None = None, max_leaves: int = 25) -> st.SearchStrategy[Any]:
    """Any JSON value; object keys are drawn from ``keys`` half of the time."""
    key = st.text(max_size=12) if keys is None else st.sampled_from(keys) | st.text(max_size=12)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(key, inner, max_size=5),
        max_leaves=max_leaves,
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _mutate_once(doc: Any, path: tuple[Any, ...], how: str, new: Any) -> Any:
    if not path:
        return new if how != "wrap" else [doc]
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last, old = path[-1], parent[path[-1]]
    if how == "delete":
        del parent[last]
    elif how == "wrap":
        parent[last] = [old]
    elif how == "stringify":
        parent[last] = json.dumps(old)
    elif how == "huge" and isinstance(old, str) and len(old) < 1000:
        parent[last] = (old or "x") * (60_000 // max(len(old), 1))  # about 60 kB, never compounding
    elif how == "duplicate" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(old))
    else:
        parent[last] = new
    return doc


@st.composite
def mutated(draw: st.DrawFn, original: Any, keys: list[str], max_mutations: int = 3) -> Any:
    """``original`` with 1..``max_mutations`` random edits at random paths."""
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, max_mutations))):
        path = draw(st.sampled_from(_paths(doc)))
        how = draw(st.sampled_from(["replace", "delete", "wrap", "stringify", "huge", "duplicate"]))
        new = draw(json_values(keys, max_leaves=6))
        doc = _mutate_once(doc, path, how, new)
    return doc


def webhook_fixtures() -> list[dict[str, Any]]:
    """Every real webhook body in ``tests/fixtures/whatsapp`` (Graph request/response samples left out)."""
    return [wa_json(n) for n in wa_names() if n.startswith(("in_", "st_", "batch_", "multi_"))]


def mutated_webhooks() -> st.SearchStrategy[Any]:
    return st.sampled_from(webhook_fixtures()).flatmap(lambda doc: mutated(doc, META_KEYS))


def slack_json_fixtures(prefix: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(SLACK_FIXTURES.glob(f"{prefix}*.json"))]


def slack_form_fixtures() -> list[str]:
    return [p.read_text().strip() for p in sorted(SLACK_FIXTURES.glob("slash_command_*.txt"))]


def shortcut_payload(callback_id: str) -> dict[str, Any]:
    """A message shortcut as Slack sends it (no reference sample exists, so built from the docs)."""
    return {
        "type": "message_action",
        "callback_id": callback_id,
        "trigger_id": "10101010104.1234567890123.abcdef",
        "user": {"id": "U0AGENT001", "name": "ana.souza"},
        "channel": {"id": "C0SOPORTE1", "name": "soporte"},
        "team": {"id": "T0ACME0001"},
        "message_ts": "1767268800.000100",
        "message": {"type": "message", "ts": "1767268800.000100", "text": "hola", "user": "U0AGENT001"},
        "response_url": "https://hooks.slack.com/app/T0ACME0001/1/abc",
    }


def interaction_payloads() -> list[dict[str, Any]]:
    shortcuts = [shortcut_payload(f"conv_{verb}_shortcut") for verb in ("claim", "transfer", "close")]
    return slack_json_fixtures("interactivity_") + shortcuts


def form_body(fields: dict[str, str]) -> bytes:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in fields.items()).encode()


def mutated_forms() -> st.SearchStrategy[bytes]:
    """Slash-command bodies with fields dropped, replaced or added."""
    from urllib.parse import parse_qsl

    def edit(raw: str) -> st.SearchStrategy[bytes]:
        fields = dict(parse_qsl(raw, keep_blank_values=True))
        names = [*fields, "command", "text", "user_id", "channel_id", "payload", "ssl_check"]
        edits = st.dictionaries(st.sampled_from(names), st.text(max_size=40) | st.none(), max_size=4)
        return edits.map(lambda e: form_body({k: v for k, v in {**fields, **e}.items() if v is not None}))

    commands = st.sampled_from(["/claim", "/transfer", "/close", "/history", "/traza", "/unknown", ""])
    texts = st.text(max_size=60) | st.sampled_from(["1000", "#1000", "+16505551234", "claim 1000", "help"])
    fresh = st.builds(
        lambda c, t: form_body(
            {"command": c, "text": t, "user_id": "U0AGENT001", "channel_id": "C0SOPORTE1"}
        ),
        commands,
        texts,
    )
    return st.sampled_from(slack_form_fixtures()).flatmap(edit) | fresh
