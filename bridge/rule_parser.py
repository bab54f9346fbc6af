"""Reading ``routing.rules`` from ``traza.yml`` into ``bridge.rules`` objects, with every problem
reported by key path (``routing.rules[2].when.pattern: not a valid regular expression …``).

Teams are read first, so a rule can only name a team that exists, and ``within_hours`` /
``outside_hours`` only a team that has ``hours``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bridge.checking import Checker
from bridge.contacts import normalize_phone, phone_variants
from bridge.domain import TeamId
from bridge.rules import (
    BUTTON_TITLE_MAX,
    CONDITION_KEYS,
    MENU_BUTTONS_MAX,
    MENU_ROWS_MAX,
    MENU_TEXT_MAX,
    ROW_DESCRIPTION_MAX,
    ROW_TITLE_MAX,
    Condition,
    CustomerIs,
    Hours,
    Keywords,
    Menu,
    MenuOption,
    NumberIs,
    Pattern,
    Phones,
    Rule,
    Stage,
    Vip,
    fold,
)
from bridge.schedule import BusinessHours


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
        button = self.check.string(raw, "button", path, required=False) or None
        if button and len(button) > BUTTON_TITLE_MAX:
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
