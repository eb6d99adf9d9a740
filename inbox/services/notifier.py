"""Sending notifications: ``notifier.send(message, recipients, ...)``."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connection, models, transaction
from django.db.models.base import ModelState
from django.db.models.functions import Cast, Collate
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox import conf, events, stats
from inbox import flags as flagmod
from inbox.exceptions import NotificationError
from inbox.flags import FlagLike
from inbox.formatting import MessageTemplate
from inbox.models import Level, Notification
from inbox.recipients import Key, Recipients, has_integer_pk, key_of, keys_of, label, label_prefix, normalize
from inbox.rows import encode as encode_rows
from inbox.rows import source as rows_source
from inbox.signals import notification_sent, notifications_sent

_SLUG = re.compile(r"^[-a-zA-Z0-9_]*$")
_SAFE_URL = re.compile(r"^(?:https?://|/(?!/)|\?|#)", re.IGNORECASE)


def send(
    message: str,
    recipients: Recipients,
    *,
    actor: models.Model | None = None,
    action: models.Model | None = None,
    target: models.Model | None = None,
    parent: Notification | None = None,
    flags: tuple[FlagLike, ...] | list[FlagLike] = (),
    extra: Mapping[str, Any] | None = None,
    send_at: datetime | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
    batch_size: int | None = None,
    category: str = "",
    level: int = Level.INFO,
    url: str = "",
    silent: bool = False,
) -> list[Notification]:
    """Send ``message`` to every recipient and return the new notifications.

    ``message`` is a ``str.format`` template over ``actor``, ``action``, ``target``,
    ``recipient`` and the keys of ``extra``; it is checked against them before
    anything is written. A ``send_at`` in the future stores the notification but
    keeps it invisible (uncounted, unannounced) until ``inbox_publish_due`` runs.
    ``silent`` stores nothing and only announces. ``expires_at`` marks it for
    ``inbox_clear --expired``.
    """
    now = now or timezone.now()
    registry = Notification.flags_registry
    flag_set = registry.resolve(flags)
    extra = _check_extra(extra)
    _check_fields(category=category, level=level, url=url, parent=parent)
    if expires_at is not None and expires_at <= (send_at or now):
        raise NotificationError(_("expires_at must be later than the time the notification is sent."))
    if silent and send_at is not None and send_at > now:
        raise NotificationError(_("A silent notification is not stored, so it cannot be scheduled."))
    template = MessageTemplate(message)
    context = {"actor": actor, "action": action, "target": target, **extra}
    # Render once without a recipient up front, so a bad template fails before any query.
    text = None if template.uses_recipient else template.render(context)

    targets = normalize(recipients)
    published = send_at is None or send_at <= now
    shared = {
        **_generic_fields("actor", actor),
        **_generic_fields("action", action),
        **_generic_fields("target", target),
        "category": category,
        "level": int(level),
        "url": url,
        "extra": extra,
        "parent_id": parent.pk if parent is not None else None,
        "custom_flags": sum(flagmod.bit(flag) for flag in flag_set if not flagmod.is_builtin(flag)),
        "sent_at": send_at or now,
        "is_published": published,
        "expires_at": expires_at,
        "created_at": now,
        "updated_at": now,
        **{field: now for flag, field in flagmod.BUILTIN_FIELDS.items() if flag in flag_set},
    }
    if silent:
        return _send_silent(template, text, context, targets, shared)

    pipeline = conf.load_list("PREPARATION_PIPELINE")
    by_query = isinstance(targets, models.QuerySet) and _can_insert_select(targets, template, shared)
    recipients_list = targets if by_query else list(targets)
    with transaction.atomic():
        if by_query:
            source = _RecipientQuery(targets)
            notifications = _insert_from_queryset(source, text or "", shared)
        else:
            rows = [
                (
                    uuid.uuid4(),
                    type_id,
                    object_id,
                    text if text is not None else template.render({**context, "recipient": recipient}),
                )
                for recipient, (type_id, object_id) in zip(recipients_list, keys_of(recipients_list), strict=True)
            ]
            if pipeline:
                notifications = _insert_prepared(rows, shared, pipeline, batch_size)
            else:
                notifications = _insert_rows(rows, shared, batch_size)
        if not notifications:
            return []
        if by_query:
            delta = stats.State.of(notifications[0]).counters()
            stats.apply_uniform(source.sql, source.params, source.type_id, delta, now)
        else:
            _count_new(notifications, pipeline=bool(pipeline), now=now)
        if published:
            prefixes: dict[int, str] = {}
            events.publish_on_commit(
                [
                    events.Event(
                        recipient=_prefix(prefixes, n.recipient_type_id) + n.recipient_id,
                        new=(str(n.uid),),
                        details=(events.describe(n),),
                    )
                    for n in notifications
                ]
            )
        _send_signals(notifications, recipients_list)
    return notifications


def _count_new(notifications: list[Notification], *, pipeline: bool, now: datetime) -> None:
    deltas = stats.Deltas()
    if pipeline:  # steps may have changed any notification's state
        groups = Counter((_key(n), stats.State.of(n)) for n in notifications)
        for (key, state), times in groups.items():
            deltas.add(key, None, state, times)
    else:
        deltas.add_new([_key(n) for n in notifications], stats.State.of(notifications[0]))
    stats.apply(deltas, now=now)


def _prefix(cache: dict[int, str], type_id: int) -> str:
    if type_id not in cache:
        cache[type_id] = label_prefix(type_id)
    return cache[type_id]


def _key(notification: Notification) -> Key:
    return notification.recipient_type_id, notification.recipient_id


def _recipient_fields(recipient: models.Model) -> dict[str, Any]:
    type_id, object_id = key_of(recipient)
    return {"recipient_type_id": type_id, "recipient_id": object_id}


def _generic_fields(prefix: str, obj: models.Model | None) -> dict[str, Any]:
    if obj is None:
        return {f"{prefix}_type_id": None, f"{prefix}_id": ""}
    type_id, object_id = key_of(obj)
    return {f"{prefix}_type_id": type_id, f"{prefix}_id": object_id}


def _check_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise NotificationError(_("extra must be a dict."))
    clash = {"actor", "action", "target", "recipient"} & set(extra)
    if clash:
        raise NotificationError(
            _("extra may not use the reserved names: %(names)s.") % {"names": ", ".join(sorted(clash))}
        )
    try:
        DjangoJSONEncoder().encode(dict(extra))
    except TypeError as error:
        raise NotificationError(_("extra must be JSON-serialisable: %(error)s") % {"error": error}) from None
    return dict(extra)


def _check_fields(*, category: str, level: int, url: str, parent: Notification | None) -> None:
    if not isinstance(category, str) or not _SLUG.match(category) or len(category) > 64:
        raise NotificationError(_("category must be a slug of at most 64 characters, not %r.") % (category,))
    if level not in Level.values:
        raise NotificationError(
            _("level must be one of %(levels)s, not %(level)r.") % {"levels": Level.values, "level": level}
        )
    if url and (not isinstance(url, str) or not _SAFE_URL.match(url) or len(url) > 2000):
        # javascript: and data: links would be rendered as clickable hrefs.
        raise NotificationError(_("url must be an http(s) URL or a path starting with /, not %r.") % (url,))
    if parent is not None and (not isinstance(parent, Notification) or parent.pk is None):
        raise NotificationError(_("parent must be a saved Notification."))


def _send_signals(notifications: list[Notification], recipients: list[models.Model]) -> None:
    if notification_sent.has_listeners(Notification):
        for notification in notifications:
            notification_sent.send(sender=Notification, notification=notification)
    notifications_sent.send(sender=Notification, notifications=notifications, recipients=recipients)


def _send_silent(
    template: MessageTemplate,
    text: str | None,
    context: dict[str, Any],
    targets: list[models.Model] | models.QuerySet,
    shared: dict[str, Any],
) -> list[Notification]:
    notifications = []
    for recipient in targets:
        notification = Notification(
            **_recipient_fields(recipient),
            message=text if text is not None else template.render({**context, "recipient": recipient}),
            **shared,
        )
        notifications.append(notification)
    events.publish_on_commit(
        [
            events.Event(recipient=label(_key(n)), silent=(events.describe(n),))
            for n in notifications
        ]
    )
    return notifications


# -- Writing rows -------------------------------------------------------------------------------
#
# Every notification of one send shares all its values but four (uid, recipient type,
# recipient id, message). Django's bulk_create prepares every value of every row,
# which dominates a large fan-out, so the shared values are prepared once and the
# database repeats them: INSERT ... SELECT <shared>, <per row> FROM <rows>, where
# <rows> is a VALUES list or, for a QuerySet of recipients, the recipients' query.

Row = tuple[uuid.UUID, int, str, str]  # uid, recipient type id, recipient id, message


def _insert_prepared(
    rows: list[Row], shared: dict[str, Any], pipeline: list[Any], batch_size: int | None
) -> list[Notification]:
    """The general path: PREPARATION_PIPELINE steps may change anything, so use bulk_create."""
    notifications = [
        Notification(uid=uid, recipient_type_id=type_id, recipient_id=object_id, message=message, **shared)
        for uid, type_id, object_id, message in rows
    ]
    for step in pipeline:
        result = step(notifications)
        if result is not None:
            notifications = list(result)
    return Notification.objects.bulk_create(notifications, batch_size=batch_size or conf.get("BATCH_SIZE"))


def _shared_sql(shared: dict[str, Any]) -> tuple[list[str], list[Any]]:
    meta = Notification._meta
    fields = [meta.get_field(attname) for attname in shared]  # get_field knows attnames too
    return [field.column for field in fields], [
        field.get_db_prep_save(shared[attname], connection) for attname, field in zip(shared, fields, strict=True)
    ]


def _insert_sql(shared_columns: list[str], per_row: list[str], source: str) -> str:
    quote = connection.ops.quote_name
    columns = [*shared_columns, "uid", "recipient_type_id", "recipient_id", "message"]
    return (
        f"INSERT INTO {quote(Notification._meta.db_table)} ({', '.join(map(quote, columns))}) "
        f"SELECT {', '.join(['%s'] * len(shared_columns) + per_row)} FROM ({source}) r "
        f"RETURNING {quote('id')}, {quote('uid')}, {quote('recipient_id')}"
    )


def _insert_rows(rows: list[Row], shared: dict[str, Any], batch_size: int | None) -> list[Notification]:
    columns, params = _shared_sql(shared)
    batch_size = batch_size or conf.get("BATCH_SIZE")
    sql = _insert_sql(columns, ["r.c0", "r.c1", "r.c2", "r.c3"], rows_source(["uuid", "int", "text", "text"]))
    # Django stores UUIDs in SQLite as 32 hex digits; RETURNING gives back that same text
    # (and a UUID on PostgreSQL, whose str() is the dashed form sent).
    spell = (lambda uid: uid.hex) if connection.vendor == "sqlite" else str
    prototype = Notification(**shared)
    notifications = []
    for start in range(0, len(rows), batch_size):
        by_uid: dict[str, Notification] = {}
        payload = []
        for uid, type_id, object_id, message in rows[start : start + batch_size]:
            spelled = spell(uid)
            payload.append((spelled, type_id, object_id, message))
            notification = _clone(prototype, uid=uid, recipient_type_id=type_id, recipient_id=object_id, message=message)
            by_uid[spelled] = notification
            notifications.append(notification)
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, encode_rows(payload)])
            for pk, uid, _recipient_id in cursor.fetchall():
                by_uid[str(uid)].id = pk
    return notifications


class _RecipientQuery:
    """The recipients' primary keys as text, as SQL the INSERT and the Stats upsert select from."""

    def __init__(self, targets: models.QuerySet) -> None:
        self.type_id = ContentType.objects.get_for_model(targets.model).pk
        # In the order stats.lock() takes row locks (by text, bytewise), so no two writers cross.
        collation = "C" if connection.vendor == "postgresql" else "BINARY"
        query = (
            targets.values(pk_str=Cast("pk", models.CharField())).order_by(Collate("pk_str", collation)).query
        )
        self.sql, self.params = query.sql_with_params()


def _insert_from_queryset(source: _RecipientQuery, text: str, shared: dict[str, Any]) -> list[Notification]:
    columns, params = _shared_sql(shared)
    sql = _insert_sql(columns, [_new_uid_sql(), "%s", "r.pk_str", "%s"], source.sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, source.type_id, text, *source.params])
        rows = cursor.fetchall()
    uid_field = Notification._meta.get_field("uid")
    prototype = Notification(recipient_type_id=source.type_id, message=text, **shared)
    return [_clone(prototype, id=pk, uid=uid_field.to_python(uid), recipient_id=object_id) for pk, uid, object_id in rows]


def _can_insert_select(targets: models.QuerySet, template: MessageTemplate, shared: dict[str, Any]) -> bool:
    """When the database can build every row from the recipients' query alone."""
    return (
        has_integer_pk(targets.model)
        and not template.uses_recipient
        and not shared["custom_flags"]  # their counts live in JSON, updated per recipient
        and not conf.get("PREPARATION_PIPELINE")
        and not notification_sent.has_listeners(Notification)
    )


def _new_uid_sql() -> str:
    if connection.vendor == "postgresql":
        return "gen_random_uuid()"
    return "lower(hex(randomblob(16)))"  # Django stores UUIDs in SQLite as 32 hex digits


def _clone(prototype: Notification, **values: Any) -> Notification:
    """A saved-looking copy of ``prototype``: far cheaper than Model.__init__ per row."""
    notification = Notification.__new__(Notification)
    notification.__dict__.update(prototype.__dict__, **values)
    state = notification._state = ModelState()
    state.adding, state.db = False, DEFAULT_DB_ALIAS
    return notification
