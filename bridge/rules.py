"""Routing rules (``routing.rules`` in ``traza.yml``): their conditions, targets and the menu.

A rule is ``when`` (conditions that must all hold) plus a target: ``team`` (with an optional
``reply`` sent to the customer) or ``menu`` (ask the customer, route by the answer). Each condition
answers ``(matched, why)`` so ``traza routes test`` and the history can say why a rule fired or not.

Condition kinds (keys of ``when``): ``number`` (business number ids), ``keywords`` (whole words of
the first message; case- and accent-insensitive), ``pattern`` (regular expressions over the same
folded text), ``within_hours`` / ``outside_hours`` (a team id: its ``hours``), ``vip: true``
(``routing.vip`` list or a ``vip`` customer fact), ``phones`` (the customer is one of these),
``customer`` (customer facts, e.g. ``{tier: gold}``; a list value means any of them) and
``stage`` (``new``: no earlier conversation, ``returning``: at least one).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bridge.checking import Checker
from bridge.contacts import normalize_phone, phone_variants
from bridge.domain import TeamId
from bridge.schedule import BusinessHours

TRUE_WORDS = frozenset({"true", "yes", "1", "si", "sí"})
MENU_BUTTONS_MAX = 3
MENU_ROWS_MAX = 10
BUTTON_TITLE_MAX = 20
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
MENU_TEXT_MAX = 900  # the body is 1024 at most and the numbered options are appended to it
MENU_ID_PREFIX = "traza-menu-"
CONDITION_KEYS = (
    "number",
    "keywords",
    "pattern",
    "within_hours",
    "outside_hours",
    "vip",
    "phones",
    "customer",
    "stage",
)


def human_duration(span: timedelta) -> str:
    """``10 min``, ``90 s``, ``2 h`` — how a timeout reads in the history and ``traza routes test``."""
    seconds = int(span.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def fold(text: str) -> str:
    """Lowercase and strip accents so ``Cotización`` matches the keyword ``cotizacion``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True, slots=True)
class RoutingFacts:
    """What is known about a new conversation when it is routed (the customer facts come apart)."""

    phone_number_id: str
    text: str | None
    at: datetime
    phone: str | None = None
    returning: bool = False
    menu_answer: int | None = None
    """The option number the customer chose in the menu of rule ``menu_rule``."""
    menu_rule: int | None = None
    menu_closed: str | None = None
    """Why the menu of ``menu_rule`` can no longer be answered (timed out, could not be sent)."""


class Condition(Protocol):
    def test(self, facts: RoutingFacts, customer: Mapping[str, str]) -> tuple[bool, str]: ...


@dataclass(frozen=True, slots=True)
class NumberIs:
    ids: frozenset[str]

    def test(self, facts: RoutingFacts, customer: Mapping[str, str]) -> tuple[bool, str]:
        if facts.phone_number_id in self.ids:
            return True, f"business number {facts.phone_number_id}"
        return False, f"business number {facts.phone_number_id} is not {' or '.join(sorted(self.ids))}"


def keyword_in(keyword: str, text: str) -> bool:
    """Whole words (or a phrase) of ``keyword`` in ``text``; both folded."""
    key = fold(keyword)
    folded = fold(text)
    return key in set(re.findall(r"\w+", folded)) or (" " in key and key in folded)


@dataclass(frozen=True, slots=True)
class Keywords:
    words: tuple[str, ...]

    def test(self, facts: RoutingFacts, customer: Mapping[str, str]) -> tuple[bool, str]:
        found = next((w for w in self.words if facts.text and keyword_in(w, facts.text)), None)
        if found is not None:
            return True, f"keyword {found!r}"
        return False, f"none of the keywords {list(self.words)} in the first message"


@dataclass(frozen=True, slots=True)
class Pattern:
    patterns: tuple[re.Pattern[str], ...]

    def test(self, facts: RoutingFacts, customer: Mapping[str, str]) -> tuple[bool, str]:
        folded = fold(facts.text or "")
        for pattern in self.patterns:
            if found := pattern.search(folded):
                return True, f"pattern {pattern.pattern!r} matched {found.group(0)!r}"
        return False, f"no pattern of {[p.pattern for p in self.patterns]} in the first message"


@dataclass(frozen=True, slots=True)
class Hours:
    team: TeamId
    hours: BusinessHours
    want_open: bool

    def test(self, facts: RoutingFacts, customer: Mapping[str, str]) -> tuple[bool, str]:
        opening = self.hours.status(facts.at)
        state = "open" if opening.open else "closed"
        return opening.open == self.want_open, f"{self.team} is {state}: {opening.why}"


@dataclass(frozen=True, slots=True)
class Vip:
    def test(self, facts: RoutingFacts, customer: Mapping[str, str]) -> tuple[bool, str]:
        if fold(customer.get("vip", "")) in TRUE_WORDS:
            return True, "the customer is VIP"
        return False, "the customer is not on the VIP list"


@dataclass(frozen=True, slots=True)
class Phones:
    digits: frozenset[str]

    def test(self, facts: RoutingFacts, customer: Mapping[str, str]) -> tuple[bool, str]:
        if facts.phone and phone_variants(facts.phone) & self.digits:
            return True, f"the customer is +{facts.phone}"
        return False, f"the customer (+{facts.phone or '?'}) is not one of the listed phones"


@dataclass(frozen=True, slots=True)
class CustomerIs:
    attribute: str
    values: frozenset[str]

    def test(self, facts: RoutingFacts, customer: Mapping[str, str]) -> tuple[bool, str]:
        value = customer.get(self.attribute)
        wanted = " or ".join(sorted(self.values))
        if value is not None and fold(value) in self.values:
            return True, f"customer.{self.attribute} is {value!r}"
        shown = repr(value) if value is not None else "unknown"
        return False, f"customer.{self.attribute} is {shown}, not {wanted}"


@dataclass(frozen=True, slots=True)
class Stage:
    returning: bool

    def test(self, facts: RoutingFacts, customer: Mapping[str, str]) -> tuple[bool, str]:
        now = "a returning customer" if facts.returning else "a new customer"
        return facts.returning == self.returning, now


@dataclass(frozen=True, slots=True)
class MenuOption:
    number: int
    title: str
    team: TeamId
    description: str | None = None

    @property
    def choice_id(self) -> str:
        return f"{MENU_ID_PREFIX}{self.number}"


@dataclass(frozen=True, slots=True)
class Menu:
    text: str
    options: tuple[MenuOption, ...]
    timeout: timedelta
    button: str = "Elegir"

    def answer(self, text: str | None, choice_id: str | None = None) -> MenuOption | None:
        """The option a reply chose: a tapped button/row, its number (``2``, ``2.``) or its title."""
        for option in self.options:
            if choice_id == option.choice_id:
                return option
        folded = fold(text or "").strip().rstrip(".)").strip()
        if not folded:
            return None
        for option in self.options:
            if folded == str(option.number) or folded == fold(option.title):
                return option
        named = [o for o in self.options if keyword_in(o.title, folded)]
        return named[0] if len(named) == 1 else None

    def body_text(self) -> str:
        return self.text + "\n\n" + "\n".join(f"{o.number}. {o.title}" for o in self.options)


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    conditions: tuple[Condition, ...]
    team: TeamId | None = None
    menu: Menu | None = None
    name: str | None = None
    reply: str | None = None

    @property
    def label(self) -> str:
        return f"rules[{self.index}]" + (f" ({self.name})" if self.name else "")


class RuleParser:
    """Validates ``routing.rules`` against the teams (and their hours) already read."""

    def __init__(self, check: Checker, hours: Mapping[TeamId, BusinessHours | None]) -> None:
        self.check, self.hours = check, hours

    def rules(self, raw: object, path: str) -> tuple[Rule, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.check.fail(path, "must be a list of rules")
            return ()
        return tuple(r for i, item in enumerate(raw) if (r := self.rule(item, i, f"{path}[{i}]")))

    def rule(self, item: object, index: int, path: str) -> Rule | None:
        if not isinstance(item, Mapping):
            self.check.fail(path, "must be a mapping with when and team (or menu)")
            return None
        unknown = set(item) - {"name", "when", "team", "menu", "reply"}
        if unknown:
            self.check.fail(
                path, f"unknown key(s) {sorted(unknown)}; a rule has name, when, team, menu, reply"
            )
        conditions = self.conditions(item.get("when"), f"{path}.when")
        team = self.team(item, "team", path) if "team" in item else None
        menu = self.menu(item.get("menu"), f"{path}.menu") if "menu" in item else None
        if ("team" in item) == ("menu" in item):
            self.check.fail(path, "needs exactly one of team or menu")
        reply = self.check.string(item, "reply", path, required=False) or None
        name = self.check.string(item, "name", path, required=False) or None
        return Rule(index, tuple(conditions), team, menu, name, reply)

    def team(self, data: Mapping[str, Any], key: str, path: str) -> TeamId | None:
        team = self.check.string(data, key, path)
        if team and team not in self.hours:
            self.check.fail(f"{path}.{key}", f"unknown team {team!r}")
            return None
        return TeamId(team) if team else None

    def conditions(self, raw: object, path: str) -> list[Condition]:
        if raw is None:
            return []
        if not isinstance(raw, Mapping):
            self.check.fail(path, f"must be a mapping of conditions ({', '.join(CONDITION_KEYS)})")
            return []
        found: list[Condition] = []
        for key, value in raw.items():
            condition = self.condition(str(key), value, f"{path}.{key}")
            if condition is not None:
                found.append(condition)
        return found

    def condition(self, key: str, value: object, path: str) -> Condition | None:
        match key:
            case "number":
                ids = _strings(value)
                if not ids or not all(i.isdigit() for i in ids):
                    self.check.fail(path, "must be a business phone_number_id (digits) or a list of them")
                    return None
                return NumberIs(frozenset(ids))
            case "keywords":
                words = [w for w in _strings(value) if w]
                if not words:
                    self.check.fail(path, "must be a word or a list of words")
                    return None
                return Keywords(tuple(words))
            case "pattern":
                return self.pattern(value, path)
            case "within_hours" | "outside_hours":
                return self.hours_condition(key, value, path)
            case "vip":
                if value is not True:
                    self.check.fail(path, "must be true (write no vip condition to match everyone)")
                    return None
                return Vip()
            case "phones":
                digits = [normalize_phone(p) for p in _strings(value)]
                if not digits or None in digits:
                    self.check.fail(path, "must be a list of phone numbers like +5215512345678")
                    return None
                return Phones(frozenset(v for d in digits if d for v in phone_variants(d)))
            case "customer":
                return self.customer(value, path)
            case "stage":
                if value not in ("new", "returning"):
                    self.check.fail(path, f"must be new or returning, got {value!r}")
                    return None
                return Stage(value == "returning")
        self.check.fail(path, f"unknown condition; use {', '.join(CONDITION_KEYS)}")
        return None

    def pattern(self, value: object, path: str) -> Condition | None:
        compiled = []
        for text in _strings(value):
            try:
                compiled.append(re.compile(fold(text), re.IGNORECASE))
            except re.error as exc:
                self.check.fail(path, f"not a valid regular expression {text!r}: {exc}")
        if not compiled:
            if not _strings(value):
                self.check.fail(path, "must be a regular expression or a list of them")
            return None
        return Pattern(tuple(compiled))

    def hours_condition(self, key: str, value: object, path: str) -> Condition | None:
        team = TeamId(str(value)) if isinstance(value, (str, int)) else None
        if team is None or team not in self.hours:
            self.check.fail(path, f"must be a team id, got {value!r}")
            return None
        hours = self.hours[team]
        if hours is None:
            self.check.fail(path, f"team {team!r} has no hours (add teams[].hours)")
            return None
        return Hours(team, hours, key == "within_hours")

    def customer(self, value: object, path: str) -> Condition | None:
        if not isinstance(value, Mapping) or len(value) != 1:
            self.check.fail(path, "must be one attribute and its value(s), e.g. {tier: gold}")
            return None
        ((attribute, wanted),) = value.items()
        values = [fold(v) for v in _strings(wanted)]
        if not values:
            self.check.fail(f"{path}.{attribute}", "must be a value or a list of values")
            return None
        return CustomerIs(str(attribute), frozenset(values))

    def menu(self, raw: object, path: str) -> Menu | None:
        if not isinstance(raw, Mapping):
            self.check.fail(path, "must be a mapping with text, options and timeout")
            return None
        text = self.check.string(raw, "text", path)
        if text and len(text) > MENU_TEXT_MAX:
            self.check.fail(f"{path}.text", f"must be at most {MENU_TEXT_MAX} characters")
        timeout = self.check.duration(raw, "timeout", path) or timedelta(minutes=10)
        button = self.check.string(raw, "button", path, required=False) or "Elegir"
        if len(button) > BUTTON_TITLE_MAX:
            self.check.fail(f"{path}.button", f"must be at most {BUTTON_TITLE_MAX} characters")
        options = self.options(raw.get("options"), f"{path}.options")
        if not text or not options:
            return None
        return Menu(text, tuple(options), timeout, button)

    def options(self, raw: object, path: str) -> list[MenuOption]:
        if not isinstance(raw, list) or not 2 <= len(raw) <= MENU_ROWS_MAX:
            self.check.fail(path, f"must be a list of 2 to {MENU_ROWS_MAX} options with title and team")
            return []
        limit = BUTTON_TITLE_MAX if len(raw) <= MENU_BUTTONS_MAX else ROW_TITLE_MAX
        options = []
        for i, item in enumerate(raw):
            where = f"{path}[{i}]"
            if not isinstance(item, Mapping):
                self.check.fail(where, "must be a mapping with title and team")
                continue
            title = self.check.string(item, "title", where)
            team = self.team(item, "team", where)
            description = self.check.string(item, "description", where, required=False) or None
            if title and len(title) > limit:
                kind = "a button" if limit == BUTTON_TITLE_MAX else "a list row"
                self.check.fail(f"{where}.title", f"must be at most {limit} characters (shown as {kind})")
            if description and len(description) > ROW_DESCRIPTION_MAX:
                self.check.fail(f"{where}.description", f"must be at most {ROW_DESCRIPTION_MAX} characters")
            if title and team:
                options.append(MenuOption(i + 1, title, team, description))
        return options


def _strings(value: object) -> list[str]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (str, int)):
        return [str(value).strip()]
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return [str(v).strip() for v in value]
    return []
