"""The team's everyday tools as pure policy: labels, canned replies and the CSAT question.

- **Labels**: short lowercase words on a conversation (``vip``, ``refund``). ``/traza tag 1042 +vip
  -refund`` adds and removes; each change is a ``LabelsChanged`` event, the current set is kept on
  the conversation for the card and the API filter.
- **Canned replies** (``canned: [{id, title, text}]`` at the top level of ``traza.yml`` and/or per
  team): a team sees its own first, then the global ones not shadowed by an id of its own.
- **CSAT** (``csat: {enabled, question, scale}`` top level or per team, the team's block winning):
  on close, the customer gets a WhatsApp question with reply buttons (``faces``: 😀 😐 🙁 scored
  3/2/1) or a list (``five``: 1–5). Each choice's id is ``csat:<ref>:<score>`` so the answer names
  its conversation and never opens a new one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bridge.i18n import N_, t

LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")
MAX_LABELS = 20
DEFAULT_QUESTION = N_("How did we do? Your answer helps us improve.")
CANNED_TEXT_MAX = 3500
_CSAT_ID = re.compile(r"^csat:(\d{1,18}):([1-5])$")


def parse_label_changes(words: list[str]) -> tuple[set[str], set[str], list[str]]:
    """``["+vip", "-refund", "urgent"]`` → (to add, to remove, problems); a bare word adds."""
    add: set[str] = set()
    remove: set[str] = set()
    problems: list[str] = []
    for word in words:
        sign, name = (word[0], word[1:]) if word[:1] in "+-" else ("+", word)
        name = name.lower().lstrip("#")
        if not LABEL.match(name):
            problems.append(f"{word!r} is not a label (lowercase letters, digits, - or _, max 30)")
        elif sign == "+":
            add.add(name)
            remove.discard(name)
        else:
            remove.add(name)
            add.discard(name)
    return add, remove, problems


def encode_labels(labels: set[str] | frozenset[str]) -> str | None:
    """How the set is stored: ``,a,b,`` (so a filter can look for ``,a,``); ``None`` when empty."""
    return "," + ",".join(sorted(labels)) + "," if labels else None


def decode_labels(stored: str | None) -> tuple[str, ...]:
    return tuple(sorted(x for x in (stored or "").split(",") if x))


@dataclass(frozen=True, slots=True)
class CannedReply:
    id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class CsatPolicy:
    enabled: bool = False
    question: str = DEFAULT_QUESTION
    scale: str = "faces"  # "faces" (3 reply buttons) or "five" (a 1–5 list)

    def choices(self) -> list[tuple[int, str]]:
        """(score, title) in the order the customer sees them, best first."""
        if self.scale == "five":
            return [
                (5, t("5 ⭐ Excellent")),
                (4, t("4 Good")),
                (3, t("3 OK")),
                (2, t("2 Poor")),
                (1, t("1 Bad")),
            ]
        return [(3, t("😀 Good")), (2, t("😐 OK")), (1, t("🙁 Bad"))]

    @property
    def top(self) -> int:
        return 5 if self.scale == "five" else 3

    def body(self, ref: int) -> dict[str, object]:
        """The Cloud API ``interactive`` object asking the question for conversation ``ref``."""
        question = {"text": t(self.question)[:1024]}  # the default question is translated
        if self.scale == "five":
            rows = [{"id": f"csat:{ref}:{s}", "title": title} for s, title in self.choices()]
            return {
                "type": "list",
                "body": question,
                "action": {"button": t("Rate us"), "sections": [{"title": t("Your rating"), "rows": rows}]},
            }
        buttons = [
            {"type": "reply", "reply": {"id": f"csat:{ref}:{s}", "title": title}}
            for s, title in self.choices()
        ]
        return {"type": "button", "body": question, "action": {"buttons": buttons}}


NO_CSAT = CsatPolicy()


def parse_csat_answer(choice_id: str) -> tuple[int, int] | None:
    """``csat:1042:3`` → (ref, score); anything else → ``None``."""
    match = _CSAT_ID.match(choice_id)
    return (int(match.group(1)), int(match.group(2))) if match else None


def parse_canned(raw: object, path: str, fail: Callable[[str, str], None]) -> tuple[CannedReply, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        fail(path, "must be a list of {id, title, text}")
        return ()
    found: list[CannedReply] = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            fail(where, "must be a mapping with id, title and text")
            continue
        values = {k: item.get(k) for k in ("id", "title", "text")}
        bad = [k for k, v in values.items() if not isinstance(v, (str, int)) or not str(v).strip()]
        for key in bad:
            fail(f"{where}.{key}", "required (a non-empty string)")
        if bad:
            continue
        reply = CannedReply(str(values["id"]).strip(), str(values["title"]).strip(), str(values["text"]))
        if any(c.id == reply.id for c in found):
            fail(f"{where}.id", f"duplicate canned reply id {reply.id!r}")
        elif len(reply.text) > CANNED_TEXT_MAX:
            fail(f"{where}.text", f"must be at most {CANNED_TEXT_MAX} characters")
        elif len(reply.id) > 60:
            fail(f"{where}.id", "must be at most 60 characters")
        else:
            found.append(reply)
    return tuple(found)


def parse_csat(raw: object, path: str, fail: Callable[[str, str], None]) -> CsatPolicy | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        fail(path, "must be a mapping with enabled, question and scale")
        return None
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        fail(f"{path}.enabled", "must be true or false")
        enabled = False
    question = raw.get("question", DEFAULT_QUESTION)
    if not isinstance(question, str) or not question.strip() or len(question) > 1024:
        fail(f"{path}.question", "must be a non-empty text of at most 1024 characters")
        question = DEFAULT_QUESTION
    scale = raw.get("scale", "faces")
    if scale not in ("faces", "five"):
        fail(f"{path}.scale", f"must be faces (3 buttons) or five (a 1-5 list), got {scale!r}")
        scale = "faces"
    return CsatPolicy(enabled, question.strip(), str(scale))
