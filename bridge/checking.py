"""The validator ``traza.yml`` is read with: one ``Checker`` collects every problem as a line that
names the offending key path (``teams[1].hours.timezone: unknown time zone 'Europe/Madird'``).

It lives apart from ``bridge.config`` so the sections with their own module (routing rules, business
hours) validate with the same voice without importing the config they are part of.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bridge.domain import SlackUserId

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
STAMP_FIELDS = {"agent", "team", "text"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def string(self, data: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(f"{path}.{key}", "required")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.fail(f"{path}.{key}", f"must be a string, got {type(value).__name__}")
            return None
        text = str(value).strip()
        if required and not text:
            self.fail(f"{path}.{key}", "must not be empty")
            return None
        return text

    def string_list(self, data: Mapping[str, Any], key: str, path: str) -> list[str]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            self.fail(f"{path}.{key}", "must be a list of strings")
            return []
        return [str(v).strip() for v in value]

    def mapping(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.fail(f"{path}.{key}", "must be a mapping")
            return None
        return value

    def duration(self, data: Mapping[str, Any], key: str, path: str) -> timedelta | None:
        """``90s``, ``10m``, ``2h``, ``1d`` or a bare number of minutes."""
        value = data.get(key)
        if value is None:
            return None
        match = _DURATION.match(str(value)) if not isinstance(value, bool) else None
        if match is None or float(match.group(1)) <= 0:
            self.fail(f"{path}.{key}", f"must be a duration like 90s, 10m or 2h, got {value!r}")
            return None
        return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "m"])

    def users(self, data: Mapping[str, Any], key: str, path: str) -> frozenset[SlackUserId]:
        users = self.string_list(data, key, path)
        for i, user in enumerate(users):
            if not USER_ID.match(user):
                self.fail(f"{path}.{key}[{i}]", f"must be a Slack user id like U0123ABCD, got {user!r}")
        return frozenset(SlackUserId(u) for u in users)

    def stamp(self, value: str | None, path: str) -> None:
        if value is None:
            return
        names = set(re.findall(r"{(\w*)}", value))
        if unknown := names - STAMP_FIELDS:
            self.fail(path, f"unknown placeholder(s) {sorted(unknown)}; use {{agent}}, {{team}}, {{text}}")
        if "text" not in names:
            self.fail(path, "must contain {text}")
