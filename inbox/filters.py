"""The inbox page's filters: a django-filter FilterSet a site can subclass (``INBOX["FILTERSET_CLASS"]``)."""

from __future__ import annotations

import datetime
from typing import Any

import django_filters
from django import forms
from django.core.validators import validate_slug
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inbox import conf
from inbox.models import Level
from inbox.recipients import content_types

STATUSES = [
    ("all", _("All")),
    ("unread", _("Unread")),
    ("read", _("Read")),
    ("starred", _("Starred")),
    ("archived", _("Archived")),
]


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
    sent_after = django_filters.DateFilter(
        label=_("Since"), method="filter_since", widget=forms.DateInput(attrs={"type": "date"})
    )
    sent_before = django_filters.DateFilter(
        label=_("Until"), method="filter_until", widget=forms.DateInput(attrs={"type": "date"})
    )

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # "All" is the default view, so it applies even when the field is absent.
        if not self.form.cleaned_data.get("status"):
            queryset = self.filter_status(queryset, "status", "all")
        return super().filter_queryset(queryset)

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "archived":
            return queryset.archived()
        if value == "starred":
            return queryset.starred()
        queryset = queryset.active()
        if value == "unread":
            return queryset.unread()
        if value == "read":
            return queryset.read()
        return queryset

    def filter_level(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(level=int(value))

    def filter_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(message__icontains=value.strip()) if value.strip() else queryset

    def filter_actor_type(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.actor_types([value])

    def filter_since(self, queryset: QuerySet, name: str, value: datetime.date) -> QuerySet:
        return queryset.filter(sent_at__gte=_start_of(value))

    def filter_until(self, queryset: QuerySet, name: str, value: datetime.date) -> QuerySet:
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

    def only_status(self) -> bool:
        """True when nothing but the status narrows the list, so Stats knows how many match."""
        return not any(name != "status" for name in self.active_filters())


def _start_of(day: datetime.date) -> datetime.datetime:
    """Midnight in the active timezone: comparing sent_at to it keeps the index usable."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min), timezone.get_current_timezone())

