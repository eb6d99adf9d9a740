"""Snooze times: the menu's presets, a picked time, and how a snooze's end is said.

Everything here is in the reader's time zone (Django's active timezone): "tomorrow 9:00" is
their morning, not the server's.
"""

from __future__ import annotations

import datetime

from django import forms
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

#: The snooze menu's presets: (value of ``until``, label). Each is worked out in the reader's
#: timezone when the change is posted (see :func:`until_from`).
SNOOZE_PRESETS = [
    ("1h", gettext_lazy("1 hour")),
    ("tomorrow", gettext_lazy("Tomorrow 9:00")),
    ("next-week", gettext_lazy("Next week")),
]
#: The morning a preset wakes a notification at, in the reader's timezone.
SNOOZE_MORNING = datetime.time(9, 0)
#: The furthest a notification may be snoozed: past a year it is an archive, not a snooze.
MAX_SNOOZE = datetime.timedelta(days=365)
#: What a ``datetime-local`` input sends (seconds appear when a site sets ``step``).
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")


def until_from(value: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """When a snooze ends: a preset name or a ``datetime-local`` value, in the active timezone.

    ``ValidationError`` for anything malformed, in the past, or more than :data:`MAX_SNOOZE` ahead.
    """
    now = now or timezone.now()
    zone = timezone.get_current_timezone()
    local_now = timezone.localtime(now, zone)
    value = (value or "").strip()
    if value == "1h":
        until = now + datetime.timedelta(hours=1)
    elif value == "tomorrow":
        until = _local_at(local_now.date() + datetime.timedelta(days=1), zone)
    elif value == "next-week":
        # Next Monday (a week ahead on a Monday): a new week starts at its first morning.
        days = 7 - local_now.weekday()
        until = _local_at(local_now.date() + datetime.timedelta(days=days), zone)
    else:
        until = _parse_local(value, zone)
    if until <= now:
        raise forms.ValidationError(_("Choose a time in the future."), code="past")
    if until - now > MAX_SNOOZE:
        raise forms.ValidationError(_("Choose a time within a year."), code="too_far")
    return until


def _local_at(day: datetime.date, zone: datetime.tzinfo, at: datetime.time = SNOOZE_MORNING) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, at), zone)


def _parse_local(value: str, zone: datetime.tzinfo) -> datetime.datetime:
    if not value:
        raise forms.ValidationError(_("Choose when to snooze until."), code="required")
    if len(value) <= 19:  # the longest format: a huge or odd string never reaches strptime
        for fmt in LOCAL_FORMATS:
            try:
                naive = datetime.datetime.strptime(value, fmt)
            except ValueError:
                continue
            # A wall time the clocks skip (spring forward) or repeat keeps fold=0: the first one.
            return timezone.make_aware(naive, zone)
    raise forms.ValidationError(_("Enter a valid date and time."), code="invalid")


def local_input(value: datetime.datetime) -> str:
    """``value`` in the reader's timezone as a ``datetime-local`` input's value (minutes)."""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def describe_until(until: datetime.datetime, now: datetime.datetime | None = None) -> str:
    """When a snooze ends, as the reader says it: "today 15:30", "tomorrow 9:00", "Monday 9:00", "Mar 4, 9:00"."""
    now = timezone.localtime(now or timezone.now())
    local = timezone.localtime(until)
    time = date_filter(local, _("G:i"))
    days = (local.date() - now.date()).days
    if days == 0:
        return _("today %(time)s") % {"time": time}
    if days == 1:
        return _("tomorrow %(time)s") % {"time": time}
    if 1 < days < 7:
        return _("%(weekday)s %(time)s") % {"weekday": date_filter(local, "l"), "time": time}
    day = date_filter(local, _("M j") if local.year == now.year else _("M j, Y"))
    return _("%(date)s, %(time)s") % {"date": day, "time": time}


def picker_context(now: datetime.datetime | None = None) -> dict[str, object]:
    """What the snooze menus draw: the presets and the picker's earliest and latest times."""
    now = now or timezone.now()
    return {"snooze_presets": SNOOZE_PRESETS, "snooze_min": local_input(now), "snooze_max": local_input(now + MAX_SNOOZE)}
