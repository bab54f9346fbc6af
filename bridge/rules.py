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
``bridge.rule_parser`` reads them from ``traza.yml``; ``bridge.routing`` evaluates them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bridge.contacts import phone_variants
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
    button: str | None = None
    """The list's button label (menus of 4+ options); Traza's language's "Choose" when unset."""

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
