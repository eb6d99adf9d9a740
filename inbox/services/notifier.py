"""Sending notifications: ``notifier.send(message, recipients, ...)``."""

from __future__ import annotations

import itertools
import re
import uuid
from array import array
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import EmptyResultSet
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox import categories, conf, dialect, events, links, stats
from inbox import flags as flagmod
from inbox.channels import deliveries, registry
from inbox.exceptions import NotificationError
from inbox.flags import FlagLike
from inbox.formatting import MessageTemplate, check_length
from inbox.models import Level, Notification, NotificationFlag, known_custom_flags, set_known_custom_flags
from inbox.recipients import Key, Recipients, has_integer_pk, key_of, keys_of, label, label_prefix, normalize
from inbox.services import grouping, threads
from inbox.services.sent import SentNotifications
from inbox.signals import notification_sent, notifications_committed, notifications_sent

#: A slug, end to end: \Z, because $ would also accept a trailing newline.
_SLUG = re.compile(r"\A[-a-zA-Z0-9_]*\Z")


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
    channels: Sequence[str] | None = None,
    countdown: float | None = None,
    context: Mapping[str, Any] | None = None,
    announce: bool = True,
    group_key: str | None = None,
) -> Sequence[Notification]:
    """Send ``message`` to every recipient and return the new notifications.

    ``message`` is a ``str.format`` template over ``actor``, ``action``, ``target``,
    ``recipient`` and the keys of ``extra``; it is checked against them before
    anything is written. A ``send_at`` in the future stores the notification but
    keeps it invisible (uncounted, unannounced) until ``inbox_publish_due`` runs.
    ``silent`` stores nothing and only announces. ``expires_at`` marks it for
    ``inbox_clear --expired``.

    ``channels`` also deliver it outside the inbox ("email", "webhook", "slack", "console", a
    site's own; None: the category's ``default_channels``), ``countdown`` seconds later, with
    ``context`` (a JSON object) passed to each channel: a Delivery row per recipient × channel
    is written with the notifications and sent by a task after commit (docs/channels.md).

    ``announce=False`` pushes nothing to open pages (no badge refresh, no toast): the notification
    is stored and counted, and shows on the person's next page.

    Recipients who muted the thread of ``target`` or of ``parent`` (see inbox.services.threads)
    get nothing. ``group_key`` folds the notification into each recipient's open (unread,
    unarchived) row with that key, if they have one: "Alice and 4 others commented", returned
    among the new notifications (see inbox.services.grouping).
    """
    now = now or timezone.now()
    registry = Notification.flags_registry
    flag_set = registry.resolve(flags)
    extra = _check_extra(extra)
    _check_fields(category=category, level=level, url=url, parent=parent)
    group_key = grouping.check_key(group_key)
    if expires_at is not None and expires_at <= (send_at or now):
        raise NotificationError(_("expires_at must be later than the time the notification is sent."))
    if silent and not announce:
        raise NotificationError(_("A silent notification is only announced, so announce cannot be False."))
    if silent and group_key is not None:
        raise NotificationError(_("A silent notification is not stored, so it cannot join a group."))
    if silent and send_at is not None and send_at > now:
        raise NotificationError(_("A silent notification is not stored, so it cannot be scheduled."))
    routes = _check_channels(channels, category)
    channel_context = deliveries.check_context(context)
    due_at = _due_at(send_at, countdown, now)
    if routes:
        deliveries.check_deferrable(due_at, now)
    template = MessageTemplate(message)
    context = {"actor": actor, "action": action, "target": target, **extra}
    # Render once without a recipient up front, so a bad template fails before any query.
    text = None if template.uses_recipient else template.render(context)

    db = dialect.alias()
    targets = normalize(recipients)  # a QuerySet stays on its own database
    if target is not None or parent is not None:  # only a thread can be muted: no query otherwise
        targets = threads.without_muted(targets, threads.send_keys(target, parent), using=db)
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
        "sent_at": send_at or now,
        "is_published": published,
        "expires_at": expires_at,
        "created_at": now,
        "updated_at": now,
        **{field: now for flag, field in flagmod.BUILTIN_FIELDS.items() if flag in flag_set},
    }
    if group_key is not None:
        shared["group_key"] = group_key
    # A site's own flags are rows of their own table, written after each batch of notifications.
    custom = frozenset(flag.value for flag in flag_set if not flagmod.is_builtin(flag))
    if silent:
        sent_silently = _send_silent(template, text, context, targets, shared, custom)
        if routes and sent_silently:
            with transaction.atomic(using=db):
                deliveries.plan(sent_silently, routes, context=channel_context, due_at=due_at, now=now, db=db)
        return sent_silently

    pipeline = conf.load_list("PREPARATION_PIPELINE")
    batch_size = batch_size or conf.get("BATCH_SIZE")
    grouped = grouping.Folder.applies(group_key, shared)
    with transaction.atomic(using=db):
        if pipeline:
            heads: list[grouping.Head] = []
            folder = (grouping.Folder(group_key, template, text, context, shared, db=db, now=now, sink=heads.append)
                      if grouped and group_key is not None else None)
            # Heads are folded before the pipeline, which sees only the new notifications.
            created = _insert_prepared(
                _rows(targets, template, text, context, batch_size, folder), shared, custom, pipeline, batch_size, db, now
            )
            sent: Sequence[Notification] = [*created, *_read_heads(heads, db)]
        else:
            writer = _Writer(shared, custom, text or "", db, now)
            if grouped:
                assert group_key is not None
                folder = grouping.Folder(group_key, template, text, context, shared, db=db, now=now, sink=writer.add_head)
                if (isinstance(targets, models.QuerySet) and folder.key_locked and not targets.query.is_sliced
                        and writer.can_insert_select(targets, template)):
                    for remaining in folder.fold_queryset(targets):
                        writer.insert_from_queryset(remaining, batch_size)
                else:
                    for rows in _rows(targets, template, text, context, batch_size, folder):
                        writer.insert_rows(rows)
            elif isinstance(targets, models.QuerySet) and writer.can_insert_select(targets, template):
                writer.insert_from_queryset(targets, batch_size)
            else:
                for rows in _rows(targets, template, text, context, batch_size):
                    writer.insert_rows(rows)
            sent = writer.finish()
        if not sent:
            return []
        if routes:
            deliveries.plan(sent, routes, context=channel_context, due_at=due_at, now=now, db=db)
        if published and announce:
            events.publish_on_commit(lambda: _events_of(sent), using=db)
        transaction.on_commit(lambda: _send_committed(sent, targets), using=db)
    _send_signals(sent, targets)
    return sent


def _check_channels(channels: Sequence[str] | None, category: str) -> tuple[str, ...]:
    if channels is None:
        channels = categories.get(category).default_channels if category else ()
    if isinstance(channels, str):
        raise NotificationError(_("channels must be a list or tuple of names, not a string."))
    return registry.validate(channels)


def _due_at(send_at: datetime | None, countdown: float | None, now: datetime) -> datetime:
    """When deliveries may go: not before the notification is published, plus ``countdown``."""
    if countdown is not None and (isinstance(countdown, bool) or not isinstance(countdown, (int, float))
                                  or countdown < 0):
        raise NotificationError(_("countdown must be a number of seconds, 0 or more."))
    start = max(send_at or now, now)
    return start + timedelta(seconds=countdown or 0)


def _events_of(sent: Sequence[Notification]) -> Iterator[events.Event]:
    """One event per new notification, built lazily after commit (a broadcast never holds them all)."""
    prefixes: dict[int, str] = {}
    if not isinstance(sent, SentNotifications):  # the pipeline path: real instances
        for notification in sent:
            yield events.Event(
                recipient=_prefix(prefixes, notification.recipient_type_id) + notification.recipient_id,
                new=(str(notification.uid),),
                details=(events.describe(notification),),
            )
        return
    shared = events.describe(sent.prototype)  # the same text for everyone: described once
    for type_id, recipient_id, uid, own in sent.compact():
        text = str(uid)
        yield events.Event(
            recipient=_prefix(prefixes, type_id) + recipient_id,
            new=(text,),
            details=({**shared, "uid": text} if own is None else events.describe(own),),
        )


def _read_heads(heads: list[grouping.Head], db: str) -> list[Notification]:
    """The pipeline path returns instances: the heads' rows as they are now (one query per KEY_CHUNK)."""
    found: list[Notification] = []
    for start in range(0, len(heads), stats.KEY_CHUNK):
        found += Notification.objects.using(db).filter(pk__in=[h.pk for h in heads[start : start + stats.KEY_CHUNK]])
    return found


def _rows(
    targets: list[models.Model] | models.QuerySet,
    template: MessageTemplate,
    text: str | None,
    context: dict[str, Any],
    batch_size: int,
    folder: grouping.Folder | None = None,
) -> Iterator[list[Row]]:
    """The rows to insert, ``batch_size`` recipients at a time; a QuerySet is read in keyset pages.

    With a ``folder`` (a grouped send), recipients with an open row of the group are folded into
    it first and get no row here.
    """
    for chunk in _recipient_chunks(targets, batch_size, instances=text is None):
        if folder is not None:
            chunk = folder.fold(chunk)
        rows = []
        for key, recipient in chunk:
            message = text if text is not None else template.render({**context, "recipient": recipient})
            rows.append((uuid.uuid4(), key[0], key[1], message))
        yield rows


def _recipient_chunks(
    targets: list[models.Model] | models.QuerySet, size: int, *, instances: bool
) -> Iterator[list[tuple[Key, models.Model | None]]]:
    if isinstance(targets, list):
        for start in range(0, len(targets), size):
            objects = targets[start : start + size]
            yield list(zip(keys_of(objects), objects, strict=True))
        return
    type_id = ContentType.objects.get_for_model(targets.model).pk
    last: Any = None
    while True:
        page = targets.order_by("pk") if last is None else targets.filter(pk__gt=last).order_by("pk")
        chunk: list[tuple[Key, models.Model | None]]
        if instances:
            found = list(page[:size])
            chunk = [((type_id, str(obj.pk)), obj) for obj in found]
            last = found[-1].pk if found else None
        else:
            pks = list(page.values_list("pk", flat=True)[:size])
            chunk = [((type_id, str(pk)), None) for pk in pks]
            last = pks[-1] if pks else None
        if chunk:
            yield chunk
        if len(chunk) < size:
            return


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
    if url and (not isinstance(url, str) or not links.is_allowed_link(url)):
        # javascript:, data: and off-site links (including /\\evil.example) would be rendered as hrefs.
        raise NotificationError(
            _("url must be a path on this site or an http(s) URL to an allowed host, not %r.") % (url,)
        )
    if parent is not None and (not isinstance(parent, Notification) or parent.pk is None):
        raise NotificationError(_("parent must be a saved Notification."))


def _send_signals(sent: Sequence[Notification], recipients: list[models.Model] | models.QuerySet) -> None:
    """The seed's order: ``notification_sent`` for each, then ``notifications_sent`` once.

    They run after send()'s own transaction (inside the caller's, if one is open), so a receiver
    sees the rows; one that raises is logged and never undoes the send. Work that leaves the
    process belongs in ``notifications_committed``, which runs after commit.
    """
    # send_robust logs a receiver's exception (logger "django.dispatch") instead of raising it.
    if notification_sent.has_listeners(Notification):
        for notification in sent:
            notification_sent.send_robust(sender=Notification, notification=notification)
    notifications_sent.send_robust(sender=Notification, notifications=sent, recipients=recipients)


def _send_committed(sent: Sequence[Notification], recipients: list[models.Model] | models.QuerySet) -> None:
    notifications_committed.send_robust(sender=Notification, notifications=sent, recipients=recipients)


def _send_silent(
    template: MessageTemplate,
    text: str | None,
    context: dict[str, Any],
    targets: list[models.Model] | models.QuerySet,
    shared: dict[str, Any],
    custom: frozenset[int],
) -> list[Notification]:
    notifications = []
    for recipient in targets:
        notification = Notification(
            **_recipient_fields(recipient),
            message=text if text is not None else template.render({**context, "recipient": recipient}),
            **shared,
        )
        set_known_custom_flags(notification, custom)
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
# <rows> is a JSON document of rows or, for a QuerySet of recipients, the recipients' query.
# Stats are counted from the rows the database reports inserted, never from a second
# evaluation of the recipients, which could give other rows.

Row = tuple[uuid.UUID, int, str, str]  # uid, recipient type id, recipient id, message


def _insert_prepared(
    batches: Iterator[list[Row]],
    shared: dict[str, Any],
    custom: frozenset[int],
    pipeline: list[Any],
    batch_size: int,
    db: str,
    now: datetime,
) -> list[Notification]:
    """The general path: PREPARATION_PIPELINE steps see (and may change) every unsaved notification."""
    notifications = [
        Notification(uid=uid, recipient_type_id=type_id, recipient_id=object_id, message=message, **shared)
        for rows in batches
        for uid, type_id, object_id, message in rows
    ]
    for notification in notifications:
        set_known_custom_flags(notification, custom)
    for step in pipeline:
        result = step(notifications)
        if result is not None:
            notifications = list(result)
    for notification in notifications:
        check_length(notification.message)  # a step may have lengthened it
    created = Notification.objects.using(db).bulk_create(notifications, batch_size=batch_size)
    # Always: a PREPARATION_PIPELINE step may give notifications flags the send itself did not.
    _insert_prepared_flags(created, custom, db, batch_size)
    deltas = stats.Deltas()
    for (key, state), times in Counter((_key(n), stats.State.of(n)) for n in created).items():
        deltas.add(key, None, state, times)
    stats.apply(deltas, now=now, using=db)
    return created


def _insert_prepared_flags(created: list[Notification], custom: frozenset[int], db: str, batch_size: int) -> None:
    """The flag rows of notifications a pipeline prepared: each keeps the send's flags (unless a step
    gave it others with ``set_known_custom_flags``), in a few set-based INSERTs."""
    connection = connections[db]
    by_values: dict[frozenset[int], list[Notification]] = {}
    for notification in created:
        values = known_custom_flags(notification)
        values = custom if values is None else values
        set_known_custom_flags(notification, values)
        if values:
            by_values.setdefault(values, []).append(notification)
    uid_field = Notification._meta.get_field("uid")
    for values, notifications in by_values.items():
        for start in range(0, len(notifications), batch_size):
            chunk = notifications[start : start + batch_size]
            if any(n.pk is None for n in chunk):  # MySQL's bulk_create hands no ids back: read them by uid
                ids = dict(Notification.objects.using(db).filter(uid__in=[n.uid for n in chunk]).values_list("uid", "pk"))
                for notification in chunk:
                    notification.pk = ids[uid_field.to_python(notification.uid)]
            insert_flag_rows(connection, [n.pk for n in chunk], values)


def insert_flag_rows(connection: Any, ids: Sequence[int], values: frozenset[int]) -> None:
    """One INSERT of a row per (notification id, flag value): the ids and values travel as JSON."""
    if not ids or not values:
        return
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(NotificationFlag._meta.db_table)} ({quote('notification_id')}, {quote('value')}) "
        f"SELECT r.c0, v.c0 FROM ({dialect.rows_source(connection, ['int'])}) r "
        f"CROSS JOIN ({dialect.rows_source(connection, ['int'])}) v"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [dialect.encode_rows([pk] for pk in ids), dialect.encode_rows([v] for v in sorted(values))])


class _Writer:
    """Inserts one send's rows batch by batch and keeps Stats in step with what was inserted."""

    def __init__(self, shared: dict[str, Any], custom: frozenset[int], text: str, db: str, now: datetime) -> None:
        self.db = db
        self.connection = connections[db]
        self.now = now
        self.text = text
        self.custom = custom
        meta = Notification._meta
        fields = [_concrete(meta.get_field(attname)) for attname in shared]  # get_field knows attnames too
        self.columns = [field.column for field in fields]
        self.params = [
            field.get_db_prep_save(shared[attname], self.connection)
            for attname, field in zip(shared, fields, strict=True)
        ]
        prototype = Notification(message=text, **shared)
        set_known_custom_flags(prototype, custom)  # every notification of the send is built from it
        self.state = stats.State.of(prototype)
        self.sent = SentNotifications(prototype, db)
        #: The recipients of rows inserted but not yet counted in Stats (parallel arrays, not tuples).
        self.pending_types = array("q")
        self.pending_ids: list[str] = []

    # -- from a list of rows (any recipients, any database) --

    def insert_rows(self, rows: list[Row]) -> None:
        """One INSERT per chunk of rows; a message shared by every row is sent once, not per row."""
        shared_text = all(message == self.text for *_rest, message in rows)
        for chunk in _by_size(rows, shared_text):
            self._insert_chunk(chunk, shared_text)

    def _insert_chunk(self, rows: list[Row], shared_text: bool) -> None:
        if not rows:
            return
        spelled = [dialect.spell_uid(self.connection, uid) for uid, *_ in rows]
        if shared_text:
            kinds, per_row, params = ["uuid", "int", "text"], ["r.c0", "r.c1", "r.c2", "%s"], [self.text]
            payload = dialect.encode_rows(
                (spelling, type_id, object_id) for spelling, (_u, type_id, object_id, _m) in zip(spelled, rows, strict=True)
            )
        else:
            kinds, per_row, params = ["uuid", "int", "text", "text"], ["r.c0", "r.c1", "r.c2", "r.c3"], []
            payload = dialect.encode_rows(
                (spelling, type_id, object_id, message)
                for spelling, (_u, type_id, object_id, message) in zip(spelled, rows, strict=True)
            )
        source = dialect.rows_source(self.connection, kinds)
        sql = self._insert_sql(per_row, source, ["id", "uid"])
        with self.connection.cursor() as cursor:
            # Parameters in the order they appear: shared columns, the shared message, the rows.
            cursor.execute(sql, [*self.params, *params, payload])
            if dialect.can_return(self.connection):
                returned = cursor.fetchall()
            else:  # MySQL: read the new ids back by uid, in the same transaction
                quote = self.connection.ops.quote_name
                table = quote(Notification._meta.db_table)
                cursor.execute(
                    f"SELECT n.{quote('id')}, n.{quote('uid')} FROM {table} n "
                    f"JOIN ({dialect.rows_source(self.connection, ['uuid'])}) r ON n.{quote('uid')} = r.c0",
                    [dialect.encode_rows([spelling] for spelling in spelled)],
                )
                returned = cursor.fetchall()
        ids = {str(uid): pk for pk, uid in returned}
        insert_flag_rows(self.connection, list(ids.values()), self.custom)
        for spelling, (uid, type_id, object_id, message) in zip(spelled, rows, strict=True):
            self._add(ids[spelling], uid, type_id, object_id, message)

    # -- from the recipients' own query (PostgreSQL, SQLite): nothing crosses to Python but results --

    def can_insert_select(self, targets: models.QuerySet, template: MessageTemplate) -> bool:
        return (
            has_integer_pk(targets.model)
            and not template.uses_recipient
            and targets.db == self.db
            and dialect.can_return(self.connection)
            and dialect.new_uid_sql(self.connection) is not None
        )

    def insert_from_queryset(self, targets: models.QuerySet, batch_size: int) -> None:
        """Pages of ``batch_size`` recipients, each one INSERT ... SELECT ... RETURNING.

        Stats are counted by SQL from the rows inserted, never from keys sent back to the
        database, except with a site's own flags (counted in a JSON column by stats.apply).
        """
        type_id = ContentType.objects.get_for_model(targets.model).pk
        uid_sql = dialect.new_uid_sql(self.connection)
        assert uid_sql is not None
        if dialect.can_chain_writes(self.connection):
            self._insert_streamed_pages(targets, type_id, uid_sql, batch_size)
        else:
            self._insert_keyset_pages(targets, type_id, uid_sql, batch_size)

    def _insert_keyset_pages(self, targets: models.QuerySet, type_id: int, uid_sql: str, batch_size: int) -> None:
        """SQLite: each page selects, inside its INSERT, the recipients after the last one inserted;
        a second statement counts the page's rows, found by their ids: one writer at a time, so the
        ids between the least and the greatest returned are all the page's."""
        table = self.connection.ops.quote_name(Notification._meta.db_table)
        upsert, upsert_params = stats.upsert_new_sql(
            self.connection, table, "id BETWEEN %s AND %s", self.state, self.now
        )
        last: int | None = None
        while True:
            page = targets if last is None else targets.filter(pk__gt=last)
            query = page.order_by("pk").values(pk_str=dialect.PkText("pk"))[:batch_size].query
            try:
                source, source_params = query.sql_with_params()
            except EmptyResultSet:  # .none(), pk__in=[]: nobody to send to
                return
            sql = self._insert_sql([uid_sql, "%s", "r.pk_str", "%s"], source, ["id", "uid", "recipient_id"])
            ids, recipients = self._read_inserted(sql, [*self.params, type_id, self.text, *source_params], type_id)
            if not ids:
                return
            last = max(recipients)
            self._count_page(upsert, [*upsert_params, min(ids), max(ids)], ids, recipients, type_id)
            if len(ids) < batch_size:
                return

    def _insert_streamed_pages(self, targets: models.QuerySet, type_id: int, uid_sql: str, batch_size: int) -> None:
        """PostgreSQL: the recipients' keys stream from one query (a server-side cursor), so their
        filter runs once rather than once per page, and each page is one statement that inserts the
        rows and upserts their Stats from what it inserted."""
        returned = ["id", "uid", "recipient_type_id", "recipient_id"]
        insert = self._insert_sql([uid_sql, "%s", "r.pk::text", "%s"], "SELECT unnest(%s::bigint[]) AS pk", returned)
        counted, counted_params = "", list[Any]()
        if not self.custom:
            upsert, counted_params = stats.upsert_new_sql(self.connection, "new", "1 = 1", self.state, self.now)
            counted = f", counted AS ({upsert})"
        # uuid_send: the uid's 16 bytes, all that is kept of it (no UUID object per recipient).
        sql = f"WITH new AS ({insert}){counted} SELECT id, uuid_send(uid), recipient_id FROM new"
        keys = targets.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=batch_size)
        while page := list(itertools.islice(keys, batch_size)):
            params = [*self.params, type_id, self.text, page, *counted_params]
            ids, recipients = self._read_inserted(sql, params, type_id)
            self._count_page(None, [], ids, recipients, type_id)

    def _read_inserted(self, sql: str, params: list[Any], type_id: int) -> tuple[array[int], array[int]]:
        """Run an INSERT ... RETURNING id, uid, recipient_id and keep its rows; return the new ids
        and their recipients' (integer) keys."""
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not rows:
            return array("q"), array("q")
        # Column by column at C speed: a page keeps numbers and uid bytes, no object per recipient.
        pks, uids, recipient_ids = zip(*rows, strict=True)
        ids, recipients = array("q", pks), array("q", map(int, recipient_ids))
        self.sent.extend_new(ids, _uid_bytes(uids), type_id, recipients)
        return ids, recipients

    def _count_page(
        self, upsert: str | None, params: list[Any], ids: array[int], recipients: array[int], type_id: int
    ) -> None:
        """Write a page's custom flag rows and count it in Stats: by ``upsert`` (when the page's
        statement did not count it already), or in Python when the send has custom flags."""
        insert_flag_rows(self.connection, ids, self.custom)
        if self.custom:
            self.pending_types.extend(array("q", [type_id]) * len(recipients))
            self.pending_ids.extend(map(str, recipients))
            if len(self.pending_ids) >= stats.KEY_CHUNK:
                self._count()
        elif upsert is not None:
            with self.connection.cursor() as cursor:
                cursor.execute(upsert, params)

    # -- shared --

    def _insert_sql(self, per_row: list[str], source: str, returned: list[str]) -> str:
        quote = self.connection.ops.quote_name
        columns = [*self.columns, "uid", "recipient_type_id", "recipient_id", "message"]
        return (
            f"INSERT INTO {quote(Notification._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
            f"SELECT {', '.join(['%s'] * len(self.columns) + per_row)} FROM ({source}) r "
            f"{dialect.returning(self.connection, returned)}"
        )

    def add_head(self, head: grouping.Head) -> None:
        """A recipient's open row of the group absorbed the send: returned and announced, not counted."""
        self.sent.append(head.pk, head.uid, head.type_id, head.recipient_id, head.message, head.overrides)

    def _add(self, pk: int, uid: uuid.UUID, type_id: int, object_id: str, message: str | None) -> None:
        self.sent.append(pk, uid, type_id, object_id, None if message == self.text else message)
        self.pending_types.append(type_id)
        self.pending_ids.append(object_id)
        if len(self.pending_ids) >= stats.KEY_CHUNK:
            self._count()

    def _count(self) -> None:
        if self.pending_ids:
            deltas = stats.Deltas()
            deltas.add_new(list(zip(self.pending_types, self.pending_ids, strict=True)), self.state)
            stats.apply(deltas, now=self.now, using=self.db)
            self.pending_types = array("q")
            self.pending_ids = []

    def finish(self) -> SentNotifications:
        self._count()
        return self.sent


def _uid_bytes(uids: Sequence[Any]) -> bytes:
    """The 16 bytes of each uid, end to end, as a statement hands them back: bytes
    (``uuid_send``), UUIDs, or 32 hex digits (SQLite)."""
    if isinstance(uids[0], bytes | memoryview):  # memoryview: psycopg2's bytea
        return b"".join(uids)
    if isinstance(uids[0], uuid.UUID):
        return b"".join(uid.bytes for uid in uids)
    return bytes.fromhex("".join(uids).replace("-", ""))


def _concrete(field: Any) -> models.Field:
    if not isinstance(field, models.Field) or field.column is None:
        raise TypeError(f"{field!r} is not a concrete column of Notification.")
    return field


#: Characters of row data per INSERT, well under MariaDB's default 16 MB max_allowed_packet.
MAX_PAYLOAD = 4_000_000


def _by_size(rows: list[Row], shared_text: bool) -> Iterator[list[Row]]:
    """``rows`` in chunks whose JSON stays under MAX_PAYLOAD (per-recipient messages can be long)."""
    if shared_text:
        yield rows
        return
    chunk: list[Row] = []
    size = 0
    for row in rows:
        cost = len(row[3]) + 80  # the message, plus its uid, keys and JSON punctuation
        if chunk and size + cost > MAX_PAYLOAD:
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += cost
    if chunk:
        yield chunk
