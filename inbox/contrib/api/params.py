"""Seed 000's (wc-django-notifications') list filters, read from query parameters.

    ?ids=<uid>,<uid>&ids=<uid>            any of these notifications
    ?actors=auth.user~1,auth.user~2       acted by any of these objects ("app_label.model~pk");
                                          also actions=, targets=
    ?actor_types=auth.user,shop.order     acted by any object of these models; also
                                          action_types=, target_types=
    ?sent_at_before=<ISO>&sent_at_after=<ISO>   sent at or before / at or after
    ?is_sent=true                         sent already (not scheduled for later)
    ?is_root=true                         starting a thread (no parent)
    ?parents=<uid>,<uid>                  replies to any of these
    ?flags=1,2,3&flags=4,6                (1 or 2 or 3) and (4 or 6)

A parameter given several times, or with commas, means any of its values; different parameters
all apply. Ids are the notifications' public ``uid`` (the kit never shows primary keys). Anything
malformed raises :class:`BadParameter` naming the parameter, before any query runs, so an API
answers 400 and a change never half-applies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any, Protocol

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

#: The parameters :func:`filter_queryset` reads, in the order the docs list them.
NAMES = ("ids", "actors", "actions", "targets", "actor_types", "action_types", "target_types",
         "sent_at_before", "sent_at_after", "is_sent", "is_root", "parents", "flags")
#: Values one parameter may hold in all: a filter is a question, not a bulk upload.
MAX_VALUES = 500


class BadParameter(ValueError):
    """A query parameter that cannot be read; ``name`` is the parameter."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class MultiValueParams(Protocol):
    """A ``QueryDict`` (``request.GET``), or anything with ``getlist``."""

    def getlist(self, key: str, default: list[str] | None = None) -> list[str]: ...


def filter_queryset(queryset: QuerySet, params: MultiValueParams | Mapping[str, Any],
                    *, now: datetime | None = None) -> QuerySet:
    """``queryset`` narrowed by every seed-000 filter in ``params``; :class:`BadParameter` for bad input."""
    return queryset.filter(to_q(params, now=now))


def to_q(params: MultiValueParams | Mapping[str, Any], *, now: datetime | None = None) -> Q:
    """The filters in ``params`` as one ``Q`` (all of them; ``Q()`` when there are none)."""
    query = Q()
    if values := _values(params, "ids"):
        query &= Q(uid__in=[_uid("ids", value) for value in values])
    for name, prefix in (("actors", "actor"), ("actions", "action"), ("targets", "target")):
        if values := _values(params, name):
            query &= _objects_q(name, prefix, values)
    for name, prefix in (("actor_types", "actor"), ("action_types", "action"), ("target_types", "target")):
        if values := _values(params, name):
            query &= Q(**{f"{prefix}_type__in": [_content_type(name, value) for value in values]})
    if before := _single(params, "sent_at_before"):
        query &= Q(sent_at__lte=_datetime("sent_at_before", before))
    if after := _single(params, "sent_at_after"):
        query &= Q(sent_at__gte=_datetime("sent_at_after", after))
    if (is_sent := _boolean(params, "is_sent")) is not None:
        sent = Q(is_published=True, sent_at__lte=now or timezone.now())
        query &= sent if is_sent else ~sent
    if (is_root := _boolean(params, "is_root")) is not None:
        query &= Q(parent__isnull=is_root)
    if values := _values(params, "parents"):
        query &= Q(parent__uid__in=[_uid("parents", value) for value in values])
    for group in _groups(params, "flags"):
        query &= _flags_q(group)
    return query


# -- reading values ------------------------------------------------------------------------------


def _raw(params: MultiValueParams | Mapping[str, Any], name: str) -> list[str]:
    getlist = getattr(params, "getlist", None)
    raw = getlist(name) if getlist is not None else params.get(name)  # type: ignore[union-attr]
    if raw is None:
        return []
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    if not all(isinstance(item, str) for item in items):
        raise BadParameter(name, _("expected text values."))
    return list(items)


def _groups(params: MultiValueParams | Mapping[str, Any], name: str) -> list[list[str]]:
    """Each occurrence of ``name`` split on commas, blanks dropped; empty occurrences ignored."""
    groups = [[part.strip() for part in item.split(",") if part.strip()] for item in _raw(params, name)]
    groups = [group for group in groups if group]
    if sum(len(group) for group in groups) > MAX_VALUES:
        raise BadParameter(name, _("at most %(count)d values.") % {"count": MAX_VALUES})
    return groups


def _values(params: MultiValueParams | Mapping[str, Any], name: str) -> list[str]:
    return [value for group in _groups(params, name) for value in group]


def _single(params: MultiValueParams | Mapping[str, Any], name: str) -> str | None:
    items = [item.strip() for item in _raw(params, name) if item.strip()]
    if len(items) > 1:
        raise BadParameter(name, _("give it once."))
    return items[0] if items else None


def _boolean(params: MultiValueParams | Mapping[str, Any], name: str) -> bool | None:
    value = _single(params, name)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise BadParameter(name, _("expected true or false, not %(value)r.") % {"value": value})


def _uid(name: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadParameter(name, _("%(value)r is not a notification id.") % {"value": value}) from None


def _datetime(name: str, value: str) -> datetime:
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadParameter(name, _("%(value)r is not an ISO 8601 date and time.") % {"value": value})
    try:
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        # Databases store UTC: a time at the calendar's edge with an offset has no UTC value.
        parsed.astimezone(dt_timezone.utc)
    except (OverflowError, ValueError):
        raise BadParameter(name, _("%(value)r is out of the range of dates.") % {"value": value}) from None
    return parsed


def _content_type(name: str, value: str) -> ContentType:
    app_label, dot, model_name = value.partition(".")
    if not dot or not app_label or not model_name:
        raise BadParameter(name, _("%(value)r is not app_label.model.") % {"value": value})
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        raise BadParameter(name, _("there is no model %(value)r.") % {"value": value}) from None
    return ContentType.objects.get_for_model(model)


def _objects_q(name: str, prefix: str, values: Iterable[str]) -> Q:
    """``app_label.model~pk`` values as "points at any of these objects"."""
    by_type: dict[int, list[str]] = {}
    for value in values:
        label, tilde, object_id = value.partition("~")
        if not tilde or not object_id or len(object_id) > 64 or not object_id.isprintable():
            raise BadParameter(name, _("%(value)r is not app_label.model~id.") % {"value": value})
        by_type.setdefault(_content_type(name, label).pk, []).append(object_id)
    query = Q(pk__in=[])
    for type_id, ids in by_type.items():
        query |= Q(**{f"{prefix}_type_id": type_id, f"{prefix}_id__in": ids})
    return query


def _flags_q(group: list[str]) -> Q:
    """One ``flags=`` occurrence: any of its flags (its custom flags as one ``EXISTS``)."""
    from inbox.models import Notification
    from inbox.querysets import any_flag_q

    members = []
    for value in group:
        try:
            members.append(Notification.flags_registry.get(int(value)))
        except ValueError:
            raise BadParameter("flags", _("%(value)r is not a registered flag.") % {"value": value}) from None
    return any_flag_q(members)
