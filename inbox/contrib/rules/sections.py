"""What changed, on a notification's detail page: seed 002's ``changed_data`` as a readable diff.

A notification about a model change (a rule's, or one a site sends by hand in the same shape)
keeps in ``extra``::

    {"model": "app_label.model", "instance": {"pk": 7, "repr": "Apollo"},
     "method": "create" | "update" | "delete", "changed_data": {"status": ["planned", "active"]}}

:func:`section` turns that into a list of fields, each with its label (the model field's
``verbose_name`` when the model is still there), its old value struck and its new one, and says in
words which is which. A notification without ``changed_data`` gets nothing. The rules app's
``ready()`` adds it to every detail page with :func:`register_changes`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from django.http import HttpRequest

    from inbox.models import Notification

TEMPLATE = "inbox/rules/changes.html"
#: Fields a page lists at most; the rest are counted ("and 3 more").
MAX_FIELDS = 50
#: Characters of one value a page shows at most (a long text field stays readable).
MAX_CHARS = 1000
METHODS = ("create", "update", "delete")


@dataclasses.dataclass(frozen=True)
class Value:
    text: str
    empty: bool = False


@dataclasses.dataclass(frozen=True)
class Change:
    label: str
    old: Value | None
    new: Value | None


def changes_of(notification: Notification) -> dict[str, Any] | None:
    """The diff to show for ``notification`` (method, model, instance, fields), or None."""
    extra = notification.extra
    if not isinstance(extra, Mapping):
        return None
    changed = extra.get("changed_data")
    if not isinstance(changed, Mapping) or not changed:
        return None
    method = extra.get("method") if extra.get("method") in METHODS else "update"
    model = _model(extra.get("model"))
    instance = extra.get("instance")
    pairs = []
    for name, values in list(changed.items())[:MAX_FIELDS]:
        old, new = values if isinstance(values, list | tuple) and len(values) == 2 else (None, values)
        pairs.append((str(name), _field(model, str(name)), old, new))
    related = _related_names(pairs)
    rows = []
    for name, field, old, new in pairs:
        rows.append(Change(
            label=capfirst(str(field.verbose_name)) if field is not None else _label(name),
            # A creation has no "before", a deletion no "after": only the side that means something.
            old=None if method == "create" else _value(field, old, related),
            new=None if method == "delete" else _value(field, new, related),
        ))
    return {
        "method": method,
        "model_name": capfirst(str(model._meta.verbose_name)) if model is not None else "",
        "instance": str(instance.get("repr", "")) if isinstance(instance, Mapping) else "",
        "rows": rows,
        "more": max(len(changed) - MAX_FIELDS, 0),
    }


def section(request: HttpRequest, notification: Notification) -> str | None:
    """The "Changes" section of the detail page; None for a notification without changed data."""
    changes = changes_of(notification)
    if changes is None:
        return None
    return render_to_string(TEMPLATE, {"notification": notification, **changes}, request=request)


def register_changes() -> None:
    """Show changed data on every detail page (the rules app's ``ready()`` calls this)."""
    from inbox import sections

    sections.register(section)


def _model(label: object) -> type[models.Model] | None:
    if not isinstance(label, str) or label.count(".") != 1:
        return None
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None  # a model since removed: the raw names still read well enough


def _field(model: type[models.Model] | None, name: str) -> models.Field | None:
    if model is None:
        return None
    for candidate in (name, name.removesuffix("_id")):
        try:
            field = model._meta.get_field(candidate)
        except FieldDoesNotExist:
            continue
        return field if isinstance(field, models.Field) else None
    return None


def _label(name: str) -> str:
    return capfirst(name.replace("_", " ").strip()) or name


def _related_names(pairs: list[tuple[str, models.Field | None, Any, Any]]) -> dict[tuple[int, str], str]:
    """What the keys of foreign-key changes name now ("alice", not 3): one query per such field."""
    found: dict[tuple[int, str], str] = {}
    for _name, field, old, new in pairs:
        if not isinstance(field, models.ForeignKey):
            continue
        keys = {value for value in (old, new) if isinstance(value, str | int) and not isinstance(value, bool)}
        if not keys:
            continue
        model = field.related_model
        if not isinstance(model, type):
            continue
        try:
            objects = model._default_manager.in_bulk(list(keys), field_name=field.target_field.name)
        except (ValueError, TypeError, ValidationError):
            continue  # keys of another type than the model's now: shown as they are
        for key, obj in objects.items():
            found[(id(field), str(key))] = str(obj)
    return found


def _value(field: models.Field | None, value: Any, related: Mapping[tuple[int, str], str] | None = None) -> Value:
    """One side of a change as words: a choice's label, Yes / No, a date in the site's format, the
    object a foreign key names."""
    if value is None or value == "" or value == [] or value == {}:
        return Value(_("empty"), empty=True)
    if related and isinstance(field, models.ForeignKey) and (id(field), str(value)) in related:
        return Value(related[(id(field), str(value))])
    if field is not None and field.choices and isinstance(value, str | int):
        labels = {str(key): label for key, label in field.flatchoices}
        if str(value) in labels:
            return Value(str(labels[str(value)]))
    if isinstance(value, bool):
        return Value(_("Yes") if value else _("No"))
    if isinstance(value, str) and isinstance(field, models.DateField):
        return Value(_when(value, with_time=isinstance(field, models.DateTimeField)))
    if isinstance(value, list):
        text = ", ".join(_plain(item) for item in value)
    else:
        text = _plain(value)
    return Value(text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…")


def _plain(value: Any) -> str:
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def _when(text: str, *, with_time: bool) -> str:
    """An ISO date or time (as JSON stores one) in the site's format; anything else as it is."""
    moment: date | datetime | None = None
    try:
        moment = parse_datetime(text) if with_time else parse_date(text)
    except ValueError:
        moment = None
    if isinstance(moment, datetime):
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return formats.date_format(moment, "DATETIME_FORMAT")
    if isinstance(moment, date):
        return formats.date_format(moment, "DATE_FORMAT")
    return text
