"""The inbox page's filters: a django-filter FilterSet a site can subclass (``INBOX["FILTERSET_CLASS"]``)."""

from __future__ import annotations

import datetime
from typing import Any

import django_filters
from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator, validate_slug
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from inbox import conf
from inbox.models import Level
from inbox.querysets import NotificationQuerySet
from inbox.recipients import content_types

#: "all" is the inbox (everything not archived; its value predates the tabs and stays for
#: the URLs people have); "everything" includes the archive.
STATUSES = [
    ("all", _("Inbox")),
    ("unread", _("Unread")),
    ("read", _("Read")),
    ("starred", _("Starred")),
    ("snoozed", _("Snoozed")),
    ("archived", _("Archived")),
    ("everything", _("All")),
]
#: Statuses whose rows are not published (a snoozed notification waits, uncounted, for its time):
#: the view gives their FilterSet its own base queryset (see ``InboxListMixin.get_filterset``).
UNPUBLISHED_STATUSES = frozenset({"snoozed"})
#: The filters the page shows under "Advanced" (everything but search, status and category,
#: which have their own controls); a subclass's extra filters join them.
PRIMARY_FILTERS = ("q", "status", "category")


#: The dates the "since" / "until" filters accept. Both become midnight in the reader's timezone
#: and "until" the next midnight, so the extremes of Python's dates (9999-12-31, 0001-01-01)
#: overflow; no inbox holds notifications from before 1900 or after 2999.
EARLIEST_DATE = datetime.date(1900, 1, 1)
LATEST_DATE = datetime.date(2999, 12, 31)


def _date_filter(label: str | Promise, method: str) -> django_filters.DateFilter:
    bounds = {"min": EARLIEST_DATE.isoformat(), "max": LATEST_DATE.isoformat()}
    return django_filters.DateFilter(
        label=label,
        method=method,
        widget=forms.DateInput(attrs={"type": "date", **bounds}),
        validators=[
            MinValueValidator(EARLIEST_DATE, message=_("Enter a date on or after %(limit_value)s.")),
            MaxValueValidator(LATEST_DATE, message=_("Enter a date on or before %(limit_value)s.")),
        ],
    )


class NotificationFilterForm(forms.Form):
    """The filters' form: checks what no single field can."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("sent_after"), data.get("sent_before")
        if since and until and since > until:
            raise forms.ValidationError(_("“Since” must be on or before “Until”."), code="date_range")
        return data


def actor_type_choices() -> list[tuple[str, str]]:
    choices = []
    for label in conf.get("ACTOR_TYPES"):
        model = content_types([label])[0].model_class()
        name = model._meta.verbose_name if model else label
        choices.append((label, str(name).capitalize()))
    return choices


class NotificationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(label=_("Show"), choices=STATUSES, method="filter_status", empty_label=None)
    q = django_filters.CharFilter(label=_("Search"), method="filter_text", max_length=200)
    category = django_filters.CharFilter(label=_("Category"), validators=[validate_slug], max_length=64)
    level = django_filters.ChoiceFilter(label=_("Level"), choices=Level.choices, method="filter_level", empty_label=_("Any"))
    actor_type = django_filters.ChoiceFilter(
        label=_("From"), choices=actor_type_choices, method="filter_actor_type", empty_label=_("Anyone")
    )
    sent_after = _date_filter(_("Since"), "filter_since")
    sent_before = _date_filter(_("Until"), "filter_until")

    class Meta:
        form = NotificationFilterForm

    def filter_queryset(self, queryset: NotificationQuerySet) -> NotificationQuerySet:
        # "All" is the default view, so it applies even when the field is absent.
        if not self.form.cleaned_data.get("status"):
            queryset = self.filter_status(queryset, "status", "all")
        return super().filter_queryset(queryset)

    def filter_status(self, queryset: NotificationQuerySet, name: str, value: str) -> NotificationQuerySet:
        if value == "archived":
            return queryset.archived()
        if value == "starred":
            return queryset.starred()
        if value == "snoozed":
            # Only snoozed ones, whatever base a subclass's view passes in.
            return queryset.snoozed()
        if value == "everything":
            return queryset
        queryset = queryset.active()
        if value == "unread":
            return queryset.unread()
        if value == "read":
            return queryset.read()
        return queryset

    def filter_level(self, queryset: NotificationQuerySet, name: str, value: str) -> NotificationQuerySet:
        return queryset.filter(level=int(value))

    def filter_text(self, queryset: NotificationQuerySet, name: str, value: str) -> NotificationQuerySet:
        return queryset.filter(message__icontains=value.strip()) if value.strip() else queryset

    def filter_actor_type(self, queryset: NotificationQuerySet, name: str, value: str) -> NotificationQuerySet:
        return queryset.actor_types([value])

    def filter_since(self, queryset: NotificationQuerySet, name: str, value: datetime.date) -> NotificationQuerySet:
        return queryset.filter(sent_at__gte=_start_of(value))

    def filter_until(self, queryset: NotificationQuerySet, name: str, value: datetime.date) -> NotificationQuerySet:
        return queryset.filter(sent_at__lt=_start_of(value + datetime.timedelta(days=1)))

    @property
    def current_status(self) -> str:
        data = self.form.cleaned_data if hasattr(self.form, "cleaned_data") else {}
        return data.get("status") or "all"

    def active_filters(self) -> dict[str, Any]:
        """The filters that narrow the list, as GET parameters (for links, hidden fields, URLs)."""
        if not self.is_valid():
            return {}
        return {name: self.data.get(name) for name in self.filters if self.data.get(name) not in (None, "")}

    def advanced_filters(self) -> dict[str, Any]:
        """The active filters kept under "Advanced" (so the page can open it and count them)."""
        return {name: value for name, value in self.active_filters().items() if name not in PRIMARY_FILTERS}

    def only_status(self) -> bool:
        """True when nothing but the status narrows the list, so Stats knows how many match."""
        return not any(name != "status" for name in self.active_filters())


def _start_of(day: datetime.date) -> datetime.datetime:
    """Midnight in the active timezone: comparing sent_at to it keeps the index usable."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min), timezone.get_current_timezone())

