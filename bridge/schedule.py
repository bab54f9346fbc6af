"""Business hours of a team: weekly opening ranges in an IANA time zone, holidays, and what happens
outside them (an automatic reply to the customer, an on-call team that takes the conversation).

``BusinessHours.status(at)`` answers whether the team is open at an aware instant and says why, in
the team's own local time: the instant is converted to the zone first, so a holiday or a range is
the team's calendar day and wall clock (across DST changes and midnight), never UTC's.

Configuration (``teams[].hours``)::

    hours:
      timezone: Europe/Madrid
      open: {mon-fri: "09:00-18:00", sat: "10:00-14:00"}   # "09:00-13:00, 15:00-19:00" splits a day
      holidays: [2026-12-25, 2027-01-06]
      after_hours_reply: "Estamos cerrados; te respondemos mañana a las 9."
      on_call_team: guardia

A range ends at most at ``24:00``; a night shift is written as two ranges on two days.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.checking import Checker
from bridge.domain import TeamId

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class Opening:
    """Whether a team is open at one instant, and the sentence that says why."""

    open: bool
    why: str


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: ZoneInfo
    weekly: tuple[tuple[tuple[int, int], ...], ...]
    """Per weekday (Monday first): opening ranges as (start, end) minutes after local midnight."""
    holidays: frozenset[date] = frozenset()
    after_hours_reply: str | None = None
    on_call_team: TeamId | None = None

    def status(self, at: datetime) -> Opening:
        if at.tzinfo is None:
            raise ValueError("business hours need an aware instant")
        local = at.astimezone(self.timezone)
        where = f"{DAYS[local.weekday()].capitalize()} {local:%Y-%m-%d %H:%M} {self.timezone.key}"
        if local.date() in self.holidays:
            return Opening(False, f"{where} is a holiday")
        minute = local.hour * 60 + local.minute
        ranges = self.weekly[local.weekday()]
        for start, end in ranges:
            if start <= minute < end:
                return Opening(True, f"{where} is within {_span(start, end)}")
        if not ranges:
            return Opening(False, f"{where}: closed all day")
        return Opening(False, f"{where} is outside {', '.join(_span(s, e) for s, e in ranges)}")

    def open_seconds(self, start: datetime, end: datetime) -> float:
        """Seconds of ``[start, end)`` that fall within the opening hours, in the team's calendar
        (holidays and DST included): how long a customer waited in business time."""
        if end <= start:
            return 0.0
        total = 0.0
        day = start.astimezone(self.timezone).date()
        last = end.astimezone(self.timezone).date()
        while day <= last:
            for opens, closes in self._ranges_of(day):
                total += max((min(closes, end) - max(opens, start)).total_seconds(), 0.0)
            day += timedelta(days=1)
        return total

    def after_open(self, start: datetime, seconds: float) -> datetime | None:
        """The instant when ``seconds`` of opening time have passed since ``start`` (an SLA's due
        time in business time); ``None`` when the team never opens within a year."""
        left = seconds
        day = start.astimezone(self.timezone).date()
        for _ in range(_HORIZON_DAYS):
            for opens, closes in self._ranges_of(day):
                begin = max(opens, start)
                if closes <= begin:
                    continue
                span = (closes - begin).total_seconds()
                if span >= left:
                    return begin + timedelta(seconds=left)
                left -= span
            day += timedelta(days=1)
        return None

    def open_since(self, end: datetime, seconds: float) -> datetime | None:
        """The latest start from which ``seconds`` of opening time have passed by ``end`` (what is
        overdue at ``end`` opened at or before it); ``None`` when no such start within a year."""
        left = seconds
        day = end.astimezone(self.timezone).date()
        for _ in range(_HORIZON_DAYS):
            for opens, closes in reversed(self._ranges_of(day)):
                finish = min(closes, end)
                if finish <= opens:
                    continue
                span = (finish - opens).total_seconds()
                if span >= left:
                    return finish - timedelta(seconds=left)
                left -= span
            day -= timedelta(days=1)
        return None

    def _ranges_of(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.holidays:
            return []
        return [
            (_local(day, a, self.timezone), _local(day, b, self.timezone))
            for a, b in self.weekly[day.weekday()]
        ]


_HORIZON_DAYS = 366


def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The instant of ``minutes`` after local midnight of ``day`` (24:00 is the next midnight)."""
    return (
        datetime.combine(day, time(), tzinfo=zone) + timedelta(minutes=minutes)
        if minutes < 1440
        else (datetime.combine(day + timedelta(days=1), time(), tzinfo=zone))
    )


def _span(start: int, end: int) -> str:
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def parse_hours(raw: object, path: str, check: Checker) -> BusinessHours | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        check.fail(path, "must be a mapping with timezone and open")
        return None
    zone = _zone(raw, path, check)
    weekly = _weekly(raw.get("open"), f"{path}.open", check)
    holidays = _holidays(raw.get("holidays"), f"{path}.holidays", check)
    reply = check.string(raw, "after_hours_reply", path, required=False) or None
    on_call = check.string(raw, "on_call_team", path, required=False) or None
    if zone is None or weekly is None:
        return None
    return BusinessHours(zone, weekly, holidays, reply, TeamId(on_call) if on_call else None)


def _zone(raw: Mapping[str, Any], path: str, check: Checker) -> ZoneInfo | None:
    name = check.string(raw, "timezone", path)
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        check.fail(
            f"{path}.timezone", f"unknown IANA time zone {name!r} (e.g. Europe/Madrid, America/Bogota)"
        )
        return None


def _weekly(raw: object, path: str, check: Checker) -> tuple[tuple[tuple[int, int], ...], ...] | None:
    if not isinstance(raw, Mapping) or not raw:
        check.fail(path, 'required: a mapping of days to ranges, e.g. {mon-fri: "09:00-18:00"}')
        return None
    week: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    for key, value in raw.items():
        days = _days(str(key))
        if days is None:
            check.fail(f"{path}.{key}", "days must be mon…sun, a span like mon-fri, or a list like mon,wed")
            continue
        ranges = _ranges(value, f"{path}.{key}", check)
        for day in days:
            week[day].extend(ranges)
    return tuple(tuple(sorted(day)) for day in week)


def _days(key: str) -> list[int] | None:
    found: list[int] = []
    for part in key.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            return None
        a, b = DAYS.index(first), DAYS.index(last or first)
        found += list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]
    return found


def _ranges(value: object, path: str, check: Checker) -> list[tuple[int, int]]:
    if isinstance(value, str) and value.strip().lower() == "closed":
        return []
    parts = value if isinstance(value, list) else str(value).split(",")
    ranges: list[tuple[int, int]] = []
    for part in parts:
        match = _RANGE.match(str(part))
        if match is None:
            check.fail(path, f'must be ranges like "09:00-18:00" (or "closed"), got {part!r}')
            continue
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or end <= start:
            check.fail(path, f"{part!r} is not a range within one day (end after start, at most 24:00)")
            continue
        ranges.append((start, end))
    return ranges


def _holidays(raw: object, path: str, check: Checker) -> frozenset[date]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        check.fail(path, "must be a list of dates (YYYY-MM-DD)")
        return frozenset()
    days: set[date] = set()
    for i, item in enumerate(raw):
        if isinstance(item, datetime):
            item = item.date()
        if isinstance(item, date):
            days.add(item)
            continue
        try:
            days.add(date.fromisoformat(str(item).strip()))
        except ValueError:
            check.fail(f"{path}[{i}]", f"must be a date YYYY-MM-DD, got {item!r}")
    return frozenset(days)
