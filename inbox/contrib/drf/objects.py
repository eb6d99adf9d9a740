"""The objects a page of notifications points at (actor, action, target), read per model.

A page about 25 notifications whose targets are five different models costs one query per model,
however many rows point at each: the generic keys are grouped by content type and each group is
read with one ``in_bulk``. A model registered in ``FIELD_SERIALIZERS`` with a queryset is read
through it (``select_related`` for what its serializer shows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models

from inbox.models import Notification

#: The generic relations of a notification that the API describes.
RELATIONS = ("actor", "action", "target")

ObjectKey = tuple[int, str]  # content type id, object id (as stored: text)


def load(
    notifications: Iterable[Notification],
    queryset_for: Callable[[type[models.Model]], models.QuerySet | None] = lambda model: None,
) -> dict[ObjectKey, models.Model]:
    """Every actor, action and target of ``notifications`` that still exists, by generic key."""
    wanted: dict[int, set[str]] = {}
    for notification in notifications:
        for relation in RELATIONS:
            type_id = getattr(notification, f"{relation}_type_id")
            if type_id is not None:
                wanted.setdefault(type_id, set()).add(getattr(notification, f"{relation}_id"))
    found: dict[ObjectKey, models.Model] = {}
    for type_id, object_ids in wanted.items():
        model = ContentType.objects.get_for_id(type_id).model_class()
        if model is None:  # the model's app was removed
            continue
        pks = _valid_pks(model, object_ids)
        if not pks:
            continue
        queryset = queryset_for(model)
        if queryset is None:
            queryset = model._default_manager.all()
        for pk, obj in queryset.in_bulk(list(pks)).items():
            found[(type_id, str(pk))] = obj
    return found


def _valid_pks(model: type[models.Model], object_ids: Iterable[str]) -> set[Any]:
    """The ids that can be primary keys of ``model`` (ids are stored as text: "7", a UUID...)."""
    field = model._meta.pk
    assert field is not None
    pks = set()
    for object_id in object_ids:
        try:
            pks.add(field.to_python(object_id))
        except (ValidationError, ValueError, TypeError):
            continue
    return pks
