"""Digest windows: when the window that holds a moment ends, in the recipient's own time zone.

A digest collects what arrives in one window and goes out at its end. Hourly windows end at the
next top of the hour; daily ones at the next ``time`` on the recipient's wall clock; weekly ones
at the next ``weekday`` at ``time``. Windows are half-open, ``[start, end)``: a moment exactly on
a boundary starts the next window, so the end is always strictly after ``now``.

Daylight saving time: a wall-clock time that does not exist that day (02:30 when clocks spring
forward from 02:00 to 03:00) moves forward to the first instant that does (03:00); a time that
happens twice (01:30 when clocks fall back) is its first occurrence (``fold=0``).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings

from inbox.models import Frequency

UTC = dt.timezone.utc


def is_time_zone(name: object) -> bool:
    """Whether ``name`` is an IANA time zone this system knows ("Europe/Paris", "UTC")."""
    if not isinstance(name, str) or not 0 < len(name) <= 64 or "\0" in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``name`` ("" = settings.TIME_ZONE); ValueError for a name that does not exist."""
    name = name or settings.TIME_ZONE or "UTC"
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {name!r}.") from None


def window_end(
    frequency: str, *, time: dt.time | None = None, weekday: int | None = None, time_zone: str = "",
    now: dt.datetime,
) -> dt.datetime:
    """The end (aware, UTC) of the ``frequency`` window that contains ``now``; always after ``now``.

    ``time`` defaults to 09:00 and ``weekday`` to Monday (0), as DigestSchedule's columns do.
    "immediately" has no window: ValueError.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime.")
    tz = zone(time_zone)
    time = (time or dt.time(9, 0)).replace(tzinfo=None, fold=0)
    weekday = 0 if weekday is None else weekday
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday!r}.")
    local = now.astimezone(tz)
    if frequency == Frequency.HOURLY:
        # Truncating the local wall clock keeps ``fold`` (astimezone set it), so the start of an
        # hour that happens twice maps back to the right instant; a zone 30 minutes off UTC gets
        # its own tops of the hour.
        start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        return start + dt.timedelta(hours=1)
    if frequency == Frequency.DAILY:
        days = 0
    elif frequency == Frequency.WEEKLY:
        days = (weekday - local.weekday()) % 7
    else:
        raise ValueError(f"{frequency!r} has no digest window.")
    step = 1 if frequency == Frequency.DAILY else 7
    end = wall_clock(local.date() + dt.timedelta(days=days), time, tz)
    while end <= now:
        days += step
        end = wall_clock(local.date() + dt.timedelta(days=days), time, tz)
    return end


def wall_clock(day: dt.date, time: dt.time, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """``day`` at ``time`` in ``tz`` as an aware UTC datetime: the first occurrence of an
    ambiguous time, the first existing instant after a nonexistent one."""
    naive = dt.datetime.combine(day, time)
    first = naive.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return first.astimezone(UTC)
    # In a gap. fold=1 reads the wall time with the offset after the change (an instant before
    # the gap), fold=0 with the one before (an instant after it); the change lies between: find
    # the first second whose wall clock has passed ``naive``. Zones change at whole seconds.
    low = int(naive.replace(tzinfo=tz, fold=1).timestamp())
    high = int(first.timestamp())
    if low > high:
        low, high = high, low
    while low < high:
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle + 1
    return dt.datetime.fromtimestamp(high, UTC)
