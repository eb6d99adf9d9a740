"""What a signal is turned into, inside ``save()``: JSON data only, and no query of its own.

- :func:`snapshot`: an instance's concrete, non-hidden fields as JSON, so a deleted one still renders;
- :func:`changed`: ``{field: [old, new]}`` between the row read in ``pre_save`` and the saved instance;
- :func:`resolve_path`: ``owner.team``-style attribute paths (attributes only, never methods);
- :func:`object_key` / :func:`to_json`: model objects and values as JSON, loaded again in the task.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from inbox.formatting import hidden_words

#: Where pre_save leaves the row it read, on the instance, for post_save.
BEFORE = "_inbox_rules_before"
#: A model object in JSON data: {"__model__": "app_label.model", "pk": ...}.
MODEL_REF = "__model__"


class PathError(ValueError):
    """An attribute path that cannot be followed on an object."""


def is_hidden(name: str) -> bool:
    lowered = name.lower()
    return name.startswith("_") or any(word in lowered for word in hidden_words())


def to_json(value: Any) -> Any:
    """``value`` as JSON data: Django's encoder for dates, decimals and UUIDs, model objects as
    references, sets as sorted lists, anything else as its ``str()``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, models.Model):
        return object_key(value)
    if isinstance(value, type) and issubclass(value, models.Model):
        return value._meta.label_lower
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [to_json(item) for item in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    try:
        return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    except (TypeError, ValueError):
        return str(value)


def object_key(obj: models.Model) -> dict[str, Any]:
    return {MODEL_REF: obj._meta.label_lower, "pk": to_json(obj.pk)}


def is_object_key(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {MODEL_REF, "pk"}


def tracked_fields(model: type[models.Model], only: Iterable[str] | None = None,
                   exclude: Iterable[str] = ()) -> list[models.Field]:
    """The fields whose changes a rule sees: concrete, stored in the row, not hidden (password-like),
    not set by Django on every save (``auto_now``), in ``only`` when given, not in ``exclude``."""
    wanted = None if only is None else set(only)
    left_out = set(exclude)
    fields = []
    for field in model._meta.concrete_fields:
        if field.primary_key or is_hidden(field.name) or is_hidden(field.attname):
            continue
        if getattr(field, "auto_now", False):
            continue
        if (wanted is not None and field.name not in wanted) or field.name in left_out:
            continue
        fields.append(field)
    return fields


def _loaded(instance: models.Model, field: models.Field) -> bool:
    """Read without a query: a deferred field never loaded is not looked at."""
    return field.attname in instance.__dict__


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The instance's concrete, non-hidden, loaded fields (by attname) as JSON, primary key included."""
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if is_hidden(field.name) or is_hidden(field.attname) or not _loaded(instance, field):
            continue
        data[field.attname] = to_json(instance.__dict__[field.attname])
    return data


def read_before(instance: models.Model, fields: list[models.Field], using: str) -> None:
    """In pre_save: read the stored row's ``fields`` once (one query) and keep it on the instance."""
    instance.__dict__.pop(BEFORE, None)
    if instance._state.adding or instance.pk is None or not fields:
        return
    manager = type(instance)._base_manager.db_manager(using)
    row = manager.filter(pk=instance.pk).values(*[field.attname for field in fields]).first()
    if row is not None:
        instance.__dict__[BEFORE] = row


def _normalise(field: models.Field, value: Any) -> Any:
    try:
        return field.to_python(value)
    except (ValidationError, TypeError, ValueError):
        return value


def changed(instance: models.Model, fields: list[models.Field], before: Mapping[str, Any] | None,
            update_fields: Iterable[str] | None = None) -> dict[str, list[Any]] | None:
    """``{field name: [old, new]}`` for the ``fields`` whose value differs from ``before`` (the row
    :func:`read_before` read in pre_save), as JSON; None when no row was read (a create, or no rule
    needed it)."""
    if before is None:
        return None
    saved = None if update_fields is None else set(update_fields)
    data: dict[str, list[Any]] = {}
    for field in fields:
        if field.attname not in before or not _loaded(instance, field):
            continue
        if saved is not None and field.name not in saved and field.attname not in saved:
            continue
        old = _normalise(field, before[field.attname])
        new = _normalise(field, instance.__dict__[field.attname])
        if old != new:
            data[field.name] = [to_json(old), to_json(new)]
    return data


def resolve_path(obj: Any, path: str) -> Any:
    """Follow ``path`` ("owner", "project.team") from ``obj``: attributes only.

    Each step is a model field (a foreign key is followed to its object) or a plain attribute; a
    private or hidden name, a method, a missing attribute, or a step past None is a ``PathError``.
    """
    value = obj
    for name in path.split("."):
        if not name.isidentifier() or name.startswith("_"):
            raise PathError(f"{path!r}: {name!r} is not an attribute name")
        if is_hidden(name):
            raise PathError(f"{path!r}: {name!r} is a hidden field (INBOX['MESSAGE_HIDDEN_FIELDS'])")
        if value is None:
            raise PathError(f"{path!r}: reached None before {name!r}")
        try:
            value = getattr(value, name)
        except models.ObjectDoesNotExist:
            value = None  # a nullable or missing one-to-one: nothing there
        except AttributeError:
            raise PathError(f"{path!r}: {type(value).__name__} has no attribute {name!r}") from None
        if callable(value) and not isinstance(value, models.Model):
            raise PathError(f"{path!r}: {name!r} is a method or a manager, not an attribute")
    return value


def check_path(model: type[models.Model] | None, path: str) -> None:
    """``PathError`` for a path that cannot be right: a bad name anywhere, or a first step that is no
    field or attribute of ``model``. (Later steps are checked when the rule runs.)"""
    names = path.split(".")
    for name in names:
        if not name.isidentifier() or name.startswith("_"):
            raise PathError(f"{name!r} is not an attribute name")
        if is_hidden(name):
            raise PathError(f"{name!r} is a hidden field (INBOX['MESSAGE_HIDDEN_FIELDS'])")
    if model is None:
        return
    try:
        model._meta.get_field(names[0])
        return
    except FieldDoesNotExist:
        pass
    attribute = getattr(model, names[0], None)
    if attribute is None:
        raise PathError(f"{model._meta.label} has no field {names[0]!r}")
    if callable(attribute) and not isinstance(attribute, property):
        raise PathError(f"{names[0]!r} is a method of {model._meta.label}, not an attribute")
