"""Business hours are the team's wall clock and calendar: DST changes, midnight, 24:00, split days,
and holidays that fall on a different date in the team's zone than in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.checking import Checker
from bridge.schedule import BusinessHours, parse_hours


def hours(**raw: Any) -> BusinessHours:
    check = Checker()
    parsed = parse_hours(raw, "teams[0].hours", check)
    assert parsed is not None and not check.problems, check.problems
    return parsed


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


MADRID = hours(timezone="Europe/Madrid", open={"mon-fri": "09:00-18:00"})


def test_the_same_utc_hour_is_open_before_and_closed_after_the_spring_dst_change() -> None:
    # Madrid moves from UTC+1 to UTC+2 on Sunday 2026-03-29. 07:30 UTC on Friday 27 is 08:30 (closed);
    # the same 07:30 UTC on Monday 30 is 09:30 (open).
    assert not MADRID.status(utc(2026, 3, 27, 7, 30)).open
    monday = MADRID.status(utc(2026, 3, 30, 7, 30))
    assert monday.open and "Mon 2026-03-30 09:30 Europe/Madrid" in monday.why


def test_closing_time_follows_the_autumn_dst_change() -> None:
    # Madrid returns to UTC+1 on Sunday 2026-10-25: 16:30 UTC is 18:30 on the Friday before (closed)
    # and 17:30 on the Monday after (open).
    assert not MADRID.status(utc(2026, 10, 23, 16, 30)).open
    assert MADRID.status(utc(2026, 10, 26, 16, 30)).open


def test_midnight_belongs_to_the_next_local_day() -> None:
    late = hours(timezone="America/Bogota", open={"mon": "18:00-24:00", "tue": "00:00-02:00"})
    # Tue 2026-11-24 04:59 UTC = Mon 23:59 Bogotá (open until 24:00); 05:00 UTC = Tue 00:00 (tuesday's range).
    assert late.status(utc(2026, 11, 24, 4, 59)).open
    assert late.status(utc(2026, 11, 24, 5, 0)).open
    assert not late.status(utc(2026, 11, 24, 7, 0)).open  # Tue 02:00: the range has ended


def test_a_holiday_in_the_teams_zone_that_is_not_yet_the_holiday_in_utc() -> None:
    auckland = hours(timezone="Pacific/Auckland", open={"mon-sun": "08:00-20:00"}, holidays=["2026-12-25"])
    # 2026-12-24 21:00 UTC is Friday 25 December 10:00 in Auckland: a holiday there, not yet in UTC.
    status = auckland.status(utc(2026, 12, 24, 21, 0))
    assert not status.open and status.why == "Fri 2026-12-25 10:00 Pacific/Auckland is a holiday"


def test_a_utc_holiday_date_that_is_still_a_working_day_in_the_teams_zone() -> None:
    mexico = hours(timezone="America/Mexico_City", open={"mon-sun": "09:00-22:00"}, holidays=["2026-12-25"])
    # 2026-12-25 02:00 UTC is still Thursday 24 December 20:00 in Mexico City: open.
    assert mexico.status(utc(2026, 12, 25, 2, 0)).open
    assert not mexico.status(utc(2026, 12, 25, 18, 0)).open


def test_split_days_closed_days_and_wrapping_day_spans() -> None:
    shop = hours(timezone="UTC", open={"fri-mon": "10:00-13:00, 16:00-19:00", "wed": "closed"})
    assert shop.status(utc(2026, 11, 23, 11, 0)).open  # Monday morning
    afternoon = shop.status(utc(2026, 11, 23, 14, 0))
    assert not afternoon.open and afternoon.why.endswith("is outside 10:00-13:00, 16:00-19:00")
    assert shop.status(utc(2026, 11, 22, 17, 0)).open  # Sunday, inside the fri-mon wrap
    assert shop.status(utc(2026, 11, 25, 11, 0)).why.endswith("closed all day")  # Wednesday


def test_ranges_include_their_start_and_exclude_their_end() -> None:
    assert MADRID.status(utc(2026, 11, 25, 8, 0)).open  # 09:00 Madrid
    assert not MADRID.status(utc(2026, 11, 25, 17, 0)).open  # 18:00 Madrid


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError):
        MADRID.status(datetime(2026, 11, 25, 12, 0))


def test_open_seconds_count_only_business_time_across_a_weekend_and_a_holiday() -> None:
    # Friday 2026-12-18 17:00 Madrid (16:00 UTC) to Tuesday 22 10:00 Madrid: 1 h on Friday, a closed
    # weekend, 9 h on Monday, 1 h on Tuesday = 11 h. With Monday a holiday: 2 h.
    start, end = utc(2026, 12, 18, 16, 0), utc(2026, 12, 22, 9, 0)
    assert MADRID.open_seconds(start, end) == 11 * 3600
    holiday = hours(timezone="Europe/Madrid", open={"mon-fri": "09:00-18:00"}, holidays=["2026-12-21"])
    assert holiday.open_seconds(start, end) == 2 * 3600
    assert MADRID.open_seconds(end, start) == 0.0


def test_open_seconds_follow_the_local_clock_across_dst_and_a_day_ending_at_midnight() -> None:
    # Spring change on Sunday 2026-03-29: Friday 27 08:00 UTC (09:00 local) to Monday 30 08:00 UTC
    # (10:00 local, now UTC+2): 9 h on Friday + 1 h on Monday.
    assert MADRID.open_seconds(utc(2026, 3, 27, 8, 0), utc(2026, 3, 30, 8, 0)) == 10 * 3600
    late = hours(timezone="America/Bogota", open={"mon": "22:00-24:00"})
    # Monday 2026-11-23 21:00 to Tuesday 01:00 Bogotá (UTC-5): only 22:00-24:00 counts.
    assert late.open_seconds(utc(2026, 11, 24, 2, 0), utc(2026, 11, 24, 6, 0)) == 2 * 3600


def test_after_open_and_open_since_are_inverse_walks_over_opening_time() -> None:
    # Friday 2026-12-18 17:00 Madrid + 3 open hours = Monday 21 11:00 Madrid (10:00 UTC).
    friday = utc(2026, 12, 18, 16, 0)
    monday = MADRID.after_open(friday, 3 * 3600)
    assert monday == utc(2026, 12, 21, 10, 0)
    assert MADRID.open_since(utc(2026, 12, 21, 10, 0), 3 * 3600) == friday
    assert MADRID.open_seconds(friday, utc(2026, 12, 21, 10, 0)) == 3 * 3600
    closed = hours(timezone="Europe/Madrid", open={"sat": "10:00-11:00"})
    assert closed.after_open(friday, 2 * 3600) == utc(2026, 12, 26, 10, 0)  # two Saturdays later: 1 h each
    never = BusinessHours(ZoneInfo("Europe/Madrid"), weekly=((),) * 7)
    assert never.after_open(friday, 60) is None and never.open_since(friday, 60) is None
