"""Who a notification is for: normalising recipients, and generic-relation lookups.

A recipient (and an actor, action or target) is any saved model instance,
stored as a content type plus the primary key as a string, so integer, UUID and
string keys all work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Union

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, QuerySet

if TYPE_CHECKING:
    from django.http import HttpRequest

Recipients = Union[models.Model, Iterable[models.Model], QuerySet]
#: (content type id, primary key as a string): how a recipient is stored.
Key = tuple[int, str]


def default_resolver(request: HttpRequest) -> list[models.Model]:
    """The default ``INBOX["RECIPIENTS_RESOLVER"]``: a signed-in user sees their own inbox."""
    user = getattr(request, "user", None)
    return [user] if user is not None and user.is_authenticated else []


def key_of(obj: models.Model) -> Key:
    if obj.pk is None:
        raise ValueError(f"{obj!r} is not saved: a notification needs saved objects.")
    return ContentType.objects.get_for_model(obj).pk, str(obj.pk)


def label(key: Key) -> str:
    """A stable, readable name for a recipient, e.g. ``auth.user:42``; used as event channel."""
    return label_prefix(key[0]) + key[1]


def label_prefix(type_id: int) -> str:
    content_type = ContentType.objects.get_for_id(type_id)
    return f"{content_type.app_label}.{content_type.model}:"


def keys_of(objects: Iterable[models.Model]) -> list[Key]:
    """``key_of`` for many objects, looking each model's content type up once."""
    type_ids: dict[type, int] = {}
    keys = []
    for obj in objects:
        if obj.pk is None:
            raise ValueError(f"{obj!r} is not saved: a notification needs saved objects.")
        model = type(obj)
        if model not in type_ids:
            type_ids[model] = ContentType.objects.get_for_model(obj).pk
        keys.append((type_ids[model], str(obj.pk)))
    return keys


def normalize(recipients: Recipients) -> list[models.Model] | QuerySet:
    """Recipients as a duplicate-free list, or as a QuerySet the database can expand itself.

    An ``auth.Group`` (or a QuerySet of them) stands for its users. A sliced QuerySet is fixed
    to its primary keys here, once: as a subquery it could pick other rows (``order_by("?")``)
    each time it is evaluated.
    """
    if isinstance(recipients, QuerySet):
        if issubclass(recipients.model, Group):
            return _users_of(recipients)
        manager = recipients.model._default_manager.db_manager(recipients.db)
        if recipients.query.is_sliced:
            return manager.filter(pk__in=list(recipients.values_list("pk", flat=True)))
        # Re-rooting drops ordering and joins that could repeat a row.
        return manager.filter(pk__in=recipients.values("pk"))
    if isinstance(recipients, Group):
        return _users_of(Group.objects.filter(pk=recipients.pk))
    if isinstance(recipients, models.Model):
        recipients = [recipients]
    unique: dict[Key, models.Model] = {}
    for obj in recipients:
        if isinstance(obj, Group):
            members: Iterable[models.Model] = obj.user_set.all()
        elif isinstance(obj, models.Model):
            members = [obj]
        else:
            raise TypeError(f"A recipient must be a model instance, a QuerySet or a Group, not {obj!r}.")
        for member in members:
            unique.setdefault(key_of(member), member)
    return list(unique.values())


def _users_of(groups: QuerySet) -> QuerySet:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    manager = user_model._default_manager.db_manager(groups.db)
    return manager.filter(pk__in=manager.filter(groups__in=groups).values("pk"))


def has_integer_pk(model: type[models.Model]) -> bool:
    return isinstance(model._meta.pk, (models.AutoField, models.BigAutoField, models.IntegerField))


def pk_strings(queryset: QuerySet) -> QuerySet | list[str]:
    """The primary keys of ``queryset`` as strings, as a subquery when SQL can cast them."""
    pk = queryset.model._meta.pk
    if has_integer_pk(queryset.model):
        from inbox.dialect import PkText

        return queryset.values(pk_str=PkText("pk"))
    if isinstance(pk, (models.CharField, models.TextField)):
        return queryset.values("pk")
    # UUIDs are stored differently per database; compare Python's spelling.
    return [str(value) for value in queryset.values_list("pk", flat=True)]


def generic_q(prefix: str, objects: Iterable[models.Model] | QuerySet) -> Q:
    """Q matching rows whose generic relation ``prefix`` points at any of ``objects``."""
    if isinstance(objects, QuerySet):
        content_type = ContentType.objects.get_for_model(objects.model)
        return Q(**{f"{prefix}_type": content_type, f"{prefix}_id__in": pk_strings(objects)})
    return keys_q((key_of(obj) for obj in objects), prefix)


def keys_q(keys: Iterable[Key], prefix: str = "recipient") -> Q:
    by_type: dict[int, list[str]] = defaultdict(list)
    for type_id, object_id in keys:
        by_type[type_id].append(object_id)
    query = Q(pk__in=[])
    for type_id, ids in by_type.items():
        query |= Q(**{f"{prefix}_type_id": type_id, f"{prefix}_id__in": ids})
    return query


def content_types(types: Iterable[Any]) -> list[ContentType]:
    """Content types from models, instances, ``"app_label.model"`` strings or ContentTypes."""
    result = []
    for item in types:
        if isinstance(item, ContentType):
            result.append(item)
        elif isinstance(item, str):
            app_label, _, model = item.lower().partition(".")
            try:
                result.append(ContentType.objects.get_by_natural_key(app_label, model))
            except ContentType.DoesNotExist:
                raise ValueError(f"Unknown model {item!r}: expected 'app_label.model'.") from None
        elif isinstance(item, type) and issubclass(item, models.Model) or isinstance(item, models.Model):
            result.append(ContentType.objects.get_for_model(item))
        else:
            raise TypeError(f"Expected a model, a ContentType or 'app_label.model', not {item!r}.")
    return result


def parse_label(text: str) -> Key:
    """The inverse of :func:`label`: ``"auth.user:42"`` -> (content type id, "42")."""
    model, sep, object_id = text.partition(":")
    if not sep or not object_id:
        raise ValueError(f"Expected 'app_label.model:pk', not {text!r}.")
    return content_types([model])[0].pk, object_id


def for_request(request: HttpRequest) -> list[models.Model]:
    """The recipients whose notifications ``request`` may see, from ``INBOX["RECIPIENTS_RESOLVER"]``."""
    from inspect import isawaitable

    from asgiref.sync import async_to_sync, iscoroutinefunction

    from inbox import conf

    # The badge, preview, head and view of one page all ask: resolve once per request,
    # so a resolver that queries the database costs one query, not five.
    cached = getattr(request, "_inbox_recipients", None)
    if cached is None:
        resolver = conf.load(conf.get("RECIPIENTS_RESOLVER"))
        # Pages are sync; the docs promise an ``async def`` resolver is awaited, so run it
        # on the event loop (ASGI) or a fresh one (WSGI) and wait for it here.
        if iscoroutinefunction(resolver):
            found = async_to_sync(resolver)(request)
        else:
            found = resolver(request)
            if isawaitable(found):
                pending = found

                async def wait() -> Any:
                    return await pending

                found = async_to_sync(wait)()
        cached = list(found)
        try:
            request._inbox_recipients = cached  # type: ignore[attr-defined]
        except AttributeError:  # an object that takes no attributes: resolve every time
            pass
    return list(cached)
