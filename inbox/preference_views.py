"""The preferences page: categories × channels, master switches, digest schedules.

It is thin: :mod:`inbox.services.preferences` decides what a choice means and stores it. Here
every request is validated whole before anything is written, and written in one transaction, so
bad input is a 400 that changed nothing, never a half-saved grid. The one-click unsubscribe pages
are :mod:`inbox.unsubscribe_views`.
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django_htmx.http import reswap, retarget, trigger_client_event

from inbox.channels import windows
from inbox.exceptions import PreferenceError
from inbox.models import Frequency
from inbox.services import preferences
from inbox.views import InboxViewMixin, is_htmx, render_toast

TEMPLATE = "inbox/preferences.html"
#: The element the HTMX answers re-render when a whole part changes (a master switch, an error).
TABLE_ID = "inbox-prefs-table"
SETTINGS_ID = "inbox-prefs-settings"
#: The client event after every save, for a site that wants to react (its params say what changed).
SAVED_EVENT = "inbox:preferences-saved"
#: The checkboxes' field: one value "<category>:<channel>" per ticked cell, ":<channel>" for a
#: master switch. A slug cannot hold ":", so the first ":" splits it.
CELL_FIELD = "on"
WEEKDAYS = [
    (0, gettext_lazy("Monday")), (1, gettext_lazy("Tuesday")), (2, gettext_lazy("Wednesday")),
    (3, gettext_lazy("Thursday")), (4, gettext_lazy("Friday")), (5, gettext_lazy("Saturday")),
    (6, gettext_lazy("Sunday")),
]


@functools.cache
def known_time_zones() -> frozenset[str]:
    """Every IANA name this system knows (fixed per process, so read once)."""
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The names offered in the menu: "Area/City" zones and UTC, without the legacy aliases."""
    return tuple(sorted(name for name in known_time_zones()
                        if "/" in name and not name.startswith(("Etc/", "posix/", "right/", "SystemV/")))) + ("UTC",)


def time_zone_choices(current: str = "") -> list[tuple[str, str]]:
    """The menu: the site's zone first (the default), and ``current`` even if the menu omits it."""
    first = [name for name in dict.fromkeys((settings.TIME_ZONE, current)) if name]
    return [(name, name) for name in (*first, *(n for n in time_zones() if n not in first))]


def _valid_time_zone(value: str) -> None:
    if value != settings.TIME_ZONE and not windows.is_time_zone(value):
        raise ValidationError(_("“%(value)s” is not a time zone."), params={"value": value})


class ScheduleForm(forms.Form):
    """One channel's digest schedule; the fields are named "<field>:<channel>" on the page."""

    frequency = forms.ChoiceField(label=gettext_lazy("How often"), choices=Frequency.choices)
    time = forms.TimeField(label=gettext_lazy("At"), input_formats=["%H:%M", "%H:%M:%S"])
    weekday = forms.TypedChoiceField(label=gettext_lazy("On"), choices=WEEKDAYS, coerce=int)
    time_zone = forms.CharField(label=gettext_lazy("Time zone"), max_length=64, validators=[_valid_time_zone])

    def __init__(self, data: Mapping[str, Any] | None, channel: str) -> None:
        super().__init__(data, prefix=None)
        self.channel = channel

    def add_prefix(self, field_name: str) -> str:
        # "frequency:email" rather than Django's "email-frequency": one form holds every channel.
        return f"{field_name}:{self.channel}"


@dataclass(frozen=True)
class Schedule:
    """What the page shows of one channel's schedule (a stored row or the defaults)."""

    channel: str
    label: str
    frequency: str
    time: datetime.time
    weekday: int
    time_zone: str

    @property
    def time_zone_choices(self) -> list[tuple[str, str]]:
        return time_zone_choices(self.time_zone)

    def differs(self, data: Mapping[str, Any]) -> bool:
        return (data["frequency"], data["time"], data["weekday"], data["time_zone"]) != (
            self.frequency, self.time, self.weekday, self.time_zone)


def _schedule(channel: str, label: str, value: Any) -> Schedule:
    """The grid's schedule (a DigestSchedule, saved or not, or a mapping of its values)."""
    def read(name: str, default: Any) -> Any:
        found = value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)
        return default if found in (None, "") else found

    return Schedule(channel=channel, label=label,
                    frequency=str(read("frequency", Frequency.IMMEDIATELY)),
                    time=read("time", datetime.time(9, 0)), weekday=int(read("weekday", 0)),
                    # "" is the site's time zone: the select shows (and submits) its name.
                    time_zone=str(read("time_zone", settings.TIME_ZONE)))


class Change:
    """A validated change, applied later inside the one transaction."""

    def apply(self, recipient: models.Model) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class CellChange(Change):
    category: str  # "" for the channel's master switch
    channel: str
    enabled: bool

    def apply(self, recipient: models.Model) -> None:
        preferences.set_preference(recipient, self.category, self.channel, self.enabled)


@dataclass(frozen=True)
class ScheduleChange(Change):
    channel: str
    data: Mapping[str, Any]

    def apply(self, recipient: models.Model) -> None:
        # The menu preselects the site's zone for people who never chose one: stored as "" it
        # keeps following the site's TIME_ZONE rather than pinning today's value.
        time_zone = "" if self.data["time_zone"] == settings.TIME_ZONE else self.data["time_zone"]
        preferences.set_schedule(recipient, self.channel, self.data["frequency"], time=self.data["time"],
                                 weekday=self.data["weekday"], time_zone=time_zone)


@dataclass(frozen=True)
class Answer:
    """What a successful POST re-renders (``part``: cell, table, schedule or settings) and says."""

    message: str
    part: str
    cell: CellChange | None = None
    channel: str = ""


class BadInput(Exception):
    """Input that cannot be applied; its message is shown to the person (a 400)."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "on", "yes"):
        return True
    if lowered in ("0", "false", "off", "no", ""):
        return False
    raise BadInput(_("“%(value)s” is not on or off.") % {"value": value})


class PreferencesView(InboxViewMixin, View):
    """The grid of the requester's preferences.

    It shows and changes the preferences of the requester's PRIMARY recipient: the first one
    ``INBOX["RECIPIENTS_RESOLVER"]`` gives. A request may see several inboxes (a person's and
    their teams'), but one grid edits one recipient's choices: a resolver that lists the person
    first gives each person their own.

    POST, three shapes, each validated whole before anything is written:
    - ``category`` + ``channel`` (an HTMX toggle): that one cell (``category`` "" is the master
      switch); ``enabled`` says on or off, else the cell's checkbox (field ``on``) being sent does;
    - ``schedule=<channel>`` (an HTMX change of a digest field): that channel's schedule;
    - neither (the form's "Save preferences" without JavaScript): every cell from the ticked
      checkboxes (unticked = off, locked ones ignored) and every channel's schedule.
    """

    http_method_names = ["get", "head", "post"]

    @property
    def recipient(self) -> models.Model:
        if not self.recipients:
            # Signed in, but the resolver gives this person no inbox: nothing to show.
            raise Http404(_("You have no notification preferences here."))
        recipient: models.Model = self.recipients[0]
        return recipient

    # -- Reading ----------------------------------------------------------------------------

    def context(self, **extra: Any) -> dict[str, Any]:
        grid = preferences.grid(self.recipient)
        labels = dict(grid.channels)
        masters = {name: bool(grid.masters.get(name, True)) for name in labels}
        rows = [
            {"category": category, "cells": [
                {"channel": cell.channel, "label": labels.get(cell.channel, cell.channel),
                 "enabled": cell.enabled, "locked": cell.locked, "explicit": cell.explicit,
                 "paused": not masters.get(cell.channel, True) and not cell.locked}
                for cell in cells]}
            for category, cells in grid.rows
        ]
        schedules = [_schedule(name, label, grid.schedules.get(name)) for name, label in grid.channels]
        return {
            **self.base_context(),
            "channels": [{"name": name, "label": label, "enabled": masters[name]} for name, label in grid.channels],
            "rows": rows,
            "schedules": schedules,
            "frequencies": Frequency.choices,
            "weekdays": WEEKDAYS,
            "errors": [],
            **extra,
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(render_to_string(TEMPLATE, self.context(), request=request))

    # -- Writing ----------------------------------------------------------------------------

    def post(self, request: HttpRequest) -> HttpResponse:
        data = request.POST
        grid = preferences.grid(self.recipient)
        try:
            if "schedule" in data:
                channel = data["schedule"]
                changes, message = self.schedule_changes(grid, data, [channel], only_changed=False)
                answer = Answer(message, "schedule", channel=channel)
            elif "category" in data or "channel" in data:
                change, message = self.cell_change(grid, data)
                changes = [change]
                # A master switch changes how every cell of its channel looks: the whole table.
                answer = Answer(message, "table" if change.category == "" else "cell", cell=change)
            else:
                changes = self.all_changes(grid, data)
                answer = Answer(_("Preferences saved."), "settings")
            self.apply(changes)
        except BadInput as error:
            return self.refuse(str(error))
        return self.done(answer)

    def apply(self, changes: Iterable[Change]) -> None:
        recipient = self.recipient
        try:
            with transaction.atomic():
                for change in changes:
                    change.apply(recipient)
        except PreferenceError as error:
            # Validated above from the same grid; a concurrent change of the registry or the
            # channels can still make the service refuse: the transaction undid everything.
            raise BadInput(str(error)) from error

    def cell_change(self, grid: Any, data: QueryDict) -> tuple[CellChange, str]:
        category, channel = data.get("category", ""), data.get("channel", "")
        labels = dict(grid.channels)
        if channel not in labels:
            raise BadInput(_("There is no channel “%(channel)s” here.") % {"channel": channel})
        if "enabled" in data:
            enabled = _bool(str(data.get("enabled", "")))
        else:
            enabled = f"{category}:{channel}" in data.getlist(CELL_FIELD)
        if category == "":
            message = (_("Saved: all %(channel)s notifications are on.") if enabled
                       else _("Saved: all %(channel)s notifications are off."))
            return CellChange("", channel, enabled), message % {"channel": labels[channel]}
        found = {category_.slug: category_ for category_, _cells in grid.rows}
        if category not in found:
            raise BadInput(_("There is no category “%(category)s” here.") % {"category": category})
        if found[category].locked:
            raise BadInput(_("%(category)s notifications cannot be turned off.") % {"category": found[category].label})
        message = (_("Saved: %(category)s by %(channel)s is on.") if enabled
                   else _("Saved: %(category)s by %(channel)s is off."))
        return CellChange(category, channel, enabled), message % {"category": found[category].label,
                                                                     "channel": labels[channel]}

    def all_changes(self, grid: Any, data: QueryDict) -> list[Change]:
        """The whole form: every cell and master from the ticked boxes, every schedule; only
        what differs from what is stored now is written (a default stays a default)."""
        labels = dict(grid.channels)
        ticked = set(data.getlist(CELL_FIELD))
        known = {f":{name}" for name in labels}
        changes: list[Change] = []
        for name in labels:
            enabled = f":{name}" in ticked
            if enabled != bool(grid.masters.get(name, True)):
                changes.append(CellChange("", name, enabled))
        for category, cells in grid.rows:
            for cell in cells:
                key = f"{category.slug}:{cell.channel}"
                known.add(key)
                if category.locked:
                    continue  # disabled boxes are never sent; a locked category is always on
                if (key in ticked) != bool(cell.enabled):
                    changes.append(CellChange(category.slug, cell.channel, key in ticked))
        if unknown := sorted(ticked - known):
            raise BadInput(_("These preferences do not exist: %(names)s.") % {"names": ", ".join(unknown)})
        schedule_changes, _message = self.schedule_changes(grid, data, list(labels), only_changed=True)
        return changes + schedule_changes

    def schedule_changes(self, grid: Any, data: QueryDict, channels: list[str], *,
                         only_changed: bool) -> tuple[list[Change], str]:
        labels = dict(grid.channels)
        changes: list[Change] = []
        errors: list[str] = []
        for channel in channels:
            if channel not in labels:
                raise BadInput(_("There is no channel “%(channel)s” here.") % {"channel": channel})
            current = _schedule(channel, labels[channel], grid.schedules.get(channel))
            form = ScheduleForm(data, channel)
            if not form.is_valid():
                errors += [f"{labels[channel]}, {form.fields[name].label}: {' '.join(str(e) for e in field_errors)}"
                           for name, field_errors in form.errors.items()]
                continue
            if not only_changed or current.differs(form.cleaned_data):
                changes.append(ScheduleChange(channel, form.cleaned_data))
        if errors:
            raise BadInput(" ".join(errors))
        message = ""
        if len(channels) == 1 and changes:
            frequency = dict(Frequency.choices)[form.cleaned_data["frequency"]]
            message = _("Saved: %(channel)s, %(frequency)s.") % {"channel": labels[channels[0]], "frequency": frequency}
        return changes, message

    # -- Answers ----------------------------------------------------------------------------

    def done(self, answer: Answer) -> HttpResponse:
        request = self.request
        if not is_htmx(request):
            messages.success(request, answer.message, extra_tags="inbox")
            return HttpResponseRedirect(reverse("inbox:preferences"), status=303)
        context = self.context(status=answer.message)
        params: dict[str, Any] = {"message": answer.message}
        if answer.part == "cell" and answer.cell is not None:
            change = answer.cell
            row = next(row for row in context["rows"] if row["category"].slug == change.category)
            cell = next(cell for cell in row["cells"] if cell["channel"] == change.channel)
            html = render_to_string(f"{TEMPLATE}#cell", {**context, "row": row, "cell": cell}, request=request)
            params.update(category=change.category, channel=change.channel, enabled=change.enabled)
        elif answer.part == "schedule":
            schedule = next(s for s in context["schedules"] if s.channel == answer.channel)
            html = render_to_string(f"{TEMPLATE}#schedule", {**context, "schedule": schedule}, request=request)
        else:
            html = render_to_string(f"{TEMPLATE}#{answer.part}", context, request=request)
        # "Saved" goes into the page's live region (polite), which stays in place to be announced.
        html += render_to_string(f"{TEMPLATE}#status", {**context, "oob": True}, request=request)
        return trigger_client_event(HttpResponse(html), SAVED_EVENT, params)

    def refuse(self, message: str) -> HttpResponse:
        """A 400 that shows the stored state again (nothing changed) and says why."""
        request = self.request
        context = self.context(errors=[message], status=message, status_error=True)
        if is_htmx(request):
            # The boxes in the browser may show a change that did not happen: re-render them all.
            html = (render_to_string(f"{TEMPLATE}#settings", context, request=request)
                    + render_to_string(f"{TEMPLATE}#status", {**context, "oob": True}, request=request)
                    + render_toast(request, message, level="error", oob=True))
            return reswap(retarget(HttpResponse(html, status=400), f"#{SETTINGS_ID}"), "outerHTML")
        return HttpResponse(render_to_string(TEMPLATE, context, request=request), status=400)
