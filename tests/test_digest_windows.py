"""Digest windows: their ends in the recipient's time zone, right across daylight saving changes."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox.channels.windows import window_end

UTC = dt.timezone.utc
PARIS = "Europe/Paris"      # 2025: clocks go 02:00 → 03:00 on 30 March, 03:00 → 02:00 on 26 October
NEW_YORK = "America/New_York"  # 2025: 02:00 → 03:00 on 9 March, 02:00 → 01:00 on 2 November


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def daily(now: str, zone: str, time: dt.time = dt.time(9, 0)) -> dt.datetime:
    return window_end("daily", time=time, weekday=0, time_zone=zone, now=at(now))


@pytest.mark.parametrize(("now", "end"), [
    # Paris, spring: the day before (CET, +1), the day of and the day after (CEST, +2).
    ("2025-03-29T00:00Z", "2025-03-29T08:00Z"),
    ("2025-03-29T08:00Z", "2025-03-30T07:00Z"),  # on the boundary: the next window (23 hours long)
    ("2025-03-30T06:59:59Z", "2025-03-30T07:00Z"),
    ("2025-03-30T07:00Z", "2025-03-31T07:00Z"),
    # Paris, autumn: the window over the change is 25 hours long.
    ("2025-10-25T07:00Z", "2025-10-26T08:00Z"),
    ("2025-10-26T08:00Z", "2025-10-27T08:00Z"),
])
def test_daily_in_paris_across_dst(now: str, end: str) -> None:
    assert daily(now, PARIS) == at(end)


@pytest.mark.parametrize(("now", "end"), [
    ("2025-03-08T12:00Z", "2025-03-08T14:00Z"),   # EST, -5
    ("2025-03-08T14:00Z", "2025-03-09T13:00Z"),   # the change: EDT, -4
    ("2025-03-09T13:00Z", "2025-03-10T13:00Z"),
    ("2025-11-01T13:00Z", "2025-11-02T14:00Z"),   # back to EST
    ("2025-11-02T14:00Z", "2025-11-03T14:00Z"),
])
def test_daily_in_new_york_across_dst(now: str, end: str) -> None:
    assert daily(now, NEW_YORK) == at(end)


def test_a_time_that_does_not_exist_moves_to_the_first_instant_after_the_gap() -> None:
    # 02:30 never happens on these days: clocks jump from 02:00 to 03:00.
    assert daily("2025-03-29T12:00Z", PARIS, dt.time(2, 30)) == at("2025-03-30T03:00+02:00")
    assert daily("2025-03-08T12:00Z", NEW_YORK, dt.time(2, 30)) == at("2025-03-09T03:00-04:00")
    # and the days around it keep 02:30
    assert daily("2025-03-28T12:00Z", PARIS, dt.time(2, 30)) == at("2025-03-29T02:30+01:00")
    assert daily("2025-03-30T12:00Z", PARIS, dt.time(2, 30)) == at("2025-03-31T02:30+02:00")


def test_a_time_that_happens_twice_is_its_first_occurrence() -> None:
    assert daily("2025-11-01T12:00Z", NEW_YORK, dt.time(1, 30)) == at("2025-11-02T01:30-04:00")
    assert daily("2025-10-25T12:00Z", PARIS, dt.time(2, 30)) == at("2025-10-26T02:30+02:00")
    # Once the first 01:30 has passed, the window runs to the next day's, not the second 01:30.
    assert daily("2025-11-02T05:30Z", NEW_YORK, dt.time(1, 30)) == at("2025-11-03T01:30-05:00")


@pytest.mark.parametrize(("zone", "now", "end"), [
    (PARIS, "2025-03-30T00:59Z", "2025-03-30T01:00Z"),     # 01:59 CET → 03:00 CEST
    (PARIS, "2025-03-30T01:00Z", "2025-03-30T02:00Z"),
    (NEW_YORK, "2025-11-02T05:30Z", "2025-11-02T06:00Z"),  # the first 01:30 (EDT)
    (NEW_YORK, "2025-11-02T06:30Z", "2025-11-02T07:00Z"),  # the second 01:30 (EST)
    ("Asia/Kolkata", "2025-11-01T12:00Z", "2025-11-01T12:30Z"),  # +05:30: the top of its own hour
    ("", "2025-11-01T12:00Z", "2025-11-01T13:00Z"),        # "" = the site's TIME_ZONE (UTC here)
])
def test_hourly(zone: str, now: str, end: str) -> None:
    assert window_end("hourly", time_zone=zone, now=at(now)) == at(end)


def test_weekly_across_dst() -> None:
    sunday = 6
    weekly = lambda now: window_end("weekly", time=dt.time(9, 0), weekday=sunday, time_zone=PARIS, now=at(now))  # noqa: E731
    assert weekly("2025-03-24T12:00Z") == at("2025-03-30T09:00+02:00")  # the Sunday of the change
    assert weekly("2025-03-30T07:00Z") == at("2025-04-06T09:00+02:00")  # on the boundary: next week
    assert weekly("2025-03-30T06:00Z") == at("2025-03-30T09:00+02:00")
    assert weekly("2025-10-20T12:00Z") == at("2025-10-26T09:00+01:00")


def test_result_is_aware_utc() -> None:
    end = daily("2025-06-01T12:00Z", PARIS)
    assert end.tzinfo is UTC
    assert end == at("2025-06-02T09:00+02:00")


@pytest.mark.parametrize("kwargs", [
    {"frequency": "immediately"},
    {"frequency": "monthly"},
    {"frequency": "daily", "time_zone": "Mars/Olympus_Mons"},
    {"frequency": "weekly", "weekday": 7},
    {"frequency": "daily", "now": dt.datetime(2025, 1, 1)},  # naive
])
def test_bad_input_is_a_value_error(kwargs: dict) -> None:
    arguments = {"time": dt.time(9, 0), "weekday": 0, "time_zone": "", "now": at("2025-01-01T00:00Z"), **kwargs}
    with pytest.raises(ValueError):
        window_end(**arguments)


ZONES = [PARIS, NEW_YORK, "UTC", "Asia/Kolkata", "Australia/Lord_Howe", "America/Santiago"]
PERIOD = {"hourly": dt.timedelta(hours=1), "daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}


def exists(day: dt.date, time: dt.time, zone: zoneinfo.ZoneInfo) -> bool:
    local = dt.datetime.combine(day, time, tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None)


@settings(max_examples=300, deadline=None)
@given(
    frequency=st.sampled_from(sorted(PERIOD)),
    zone_name=st.sampled_from(ZONES),
    time=st.times(),
    weekday=st.integers(0, 6),
    now=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2037, 12, 31), timezones=st.just(UTC)),
)
def test_window_end_property(frequency: str, zone_name: str, time: dt.time, weekday: int, now: dt.datetime) -> None:
    end = window_end(frequency, time=time, weekday=weekday, time_zone=zone_name, now=now)
    assert end > now
    assert end - now <= PERIOD[frequency] + dt.timedelta(hours=1)
    zone = zoneinfo.ZoneInfo(zone_name)
    local = end.astimezone(zone)
    if frequency == "hourly":
        assert (local.minute, local.second, local.microsecond) == (0, 0, 0) or zone_name == "Australia/Lord_Howe"
    elif exists(local.date(), time, zone):
        assert local.replace(tzinfo=None).time() == time
        if frequency == "weekly":
            assert local.weekday() == weekday
    # The window holding a moment just before the end ends there too: ends are stable.
    assert window_end(frequency, time=time, weekday=weekday, time_zone=zone_name,
                      now=end - dt.timedelta(microseconds=1)) == end
