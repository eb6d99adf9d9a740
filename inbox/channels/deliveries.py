"""Writing the deliveries of one ``send()``: one row per recipient × channel × provider, in the
transaction that stores the notifications, and their tasks enqueued after it commits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox import conf, dialect
from inbox.channels import registry
from inbox.exceptions import NotificationError
from inbox.models import Delivery, Notification
from inbox.services.sent import SentNotifications

#: Notification fields a silent delivery keeps (there is no row to read them from later).
_SNAPSHOT_FIELDS = [
    field for field in Notification._meta.concrete_fields
    if field.attname not in {"id", "recipient_type_id", "recipient_id"}
]


def check_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """``context`` as stored with each delivery: a JSON object, or NotificationError."""
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise NotificationError(_("context must be a dict."))
    try:
        return json.loads(json.dumps(dict(context), cls=DjangoJSONEncoder))
    except (TypeError, ValueError) as error:
        raise NotificationError(_("context must be JSON-serialisable: %(error)s") % {"error": error}) from None


def check_deferrable(due_at: datetime, now: datetime) -> None:
    """A delivery due later needs a task backend that can hold it (``run_after``)."""
    from inbox.channels import tasks

    if due_at > now and not tasks.backend().supports_defer:
        raise NotificationError(
            _("Delivering later (countdown or send_at) needs a task backend that supports run_after, "
              "such as django-tasks-db; the %(backend)s backend runs tasks at once.")
            % {"backend": type(tasks.backend()).__name__}
        )


def routes(channels: Sequence[str]) -> Iterator[tuple[str, str]]:
    for name in channels:
        for provider in registry.Channel.registry[name].providers:
            yield name, provider


def plan(
    sent: Sequence[Notification],
    channels: Sequence[str],
    *,
    context: dict[str, Any],
    due_at: datetime,
    now: datetime,
    db: str,
) -> list[uuid.UUID]:
    """Write the deliveries of ``sent`` (inside the caller's transaction) and enqueue their
    batches once it commits; return the batch ids."""
    size = conf.get("DELIVERY_BATCH_SIZE")
    batches: list[uuid.UUID] = []
    stored = all(notification.pk is not None for notification in sent[:1])
    if stored:
        ids = sent.ids() if isinstance(sent, SentNotifications) else [notification.pk for notification in sent]
        rows: list[tuple[int, uuid.UUID, str, str]] = []  # flushed as it fills: memory stays flat
        for channel, provider in routes(channels):
            for start in range(0, len(ids), size):
                batch = uuid.uuid4()
                rows += [(pk, batch, channel, provider) for pk in ids[start:start + size]]
                batches.append(batch)
                if len(rows) >= _ROWS_PER_INSERT:
                    _insert(rows, context, due_at, now, db)
                    rows = []
        if rows:
            _insert(rows, context, due_at, now, db)
    else:  # silent: nothing stored, so each delivery keeps what it will say
        for channel, provider in routes(channels):
            for start in range(0, len(sent), size):
                batch = uuid.uuid4()
                Delivery.objects.using(db).bulk_create(
                    [_silent_row(notification, channel, provider, batch, context, due_at, now)
                     for notification in sent[start:start + size]]
                )
                batches.append(batch)
    if batches:
        from inbox.channels import tasks

        transaction.on_commit(lambda: tasks.enqueue(batches, due_at if due_at > now else None), using=db)
    return batches


#: Delivery rows per INSERT: about 70 characters of JSON each, well under dialect's 4 MB.
_ROWS_PER_INSERT = 20_000


def _insert(
    rows: list[tuple[int, uuid.UUID, str, str]], context: dict[str, Any], due_at: datetime, now: datetime, db: str,
) -> None:
    """INSERT … SELECT from the notifications just written: the database copies the recipients;
    Python sends each row's notification id, batch, channel and provider (one JSON parameter) and
    the values every row shares."""
    connection = connections[db]
    quote = connection.ops.quote_name
    meta = Delivery._meta
    shared = {
        "status": Delivery.Status.PENDING, "attempts": 0, "last_error": "", "provider_message_id": "",
        "snapshot": {}, "context": context, "due_at": due_at, "created_at": now, "updated_at": now,
    }
    columns = ["notification", "recipient_type", "recipient_id", "batch", "channel", "provider", *shared]
    params = [_field(name).get_db_prep_save(value, connection) for name, value in shared.items()]
    batch_field = _field("batch")
    spelled: dict[uuid.UUID, str] = {}
    payload = dialect.encode_rows(
        [pk, spelled.setdefault(batch, str(batch_field.get_db_prep_value(batch, connection))), channel, provider]
        for pk, batch, channel, provider in rows
    )
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(str(_field(name).column)) for name in columns)}) "
        f"SELECT n.{quote('id')}, n.{quote('recipient_type_id')}, n.{quote('recipient_id')}, r.c1, r.c2, r.c3, "
        f"{', '.join(['%s'] * len(params))} "
        f"FROM {quote(Notification._meta.db_table)} n "
        f"JOIN ({dialect.rows_source(connection, ['int', 'uuid', 'text', 'text'])}) r ON n.{quote('id')} = r.c0"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, payload])


def _field(name: str) -> models.Field:
    field = Delivery._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"Delivery.{name} is not a column")
    return field


def _silent_row(
    notification: Notification, channel: str, provider: str, batch: uuid.UUID, context: dict[str, Any],
    due_at: datetime, now: datetime,
) -> Delivery:
    return Delivery(
        recipient_type_id=notification.recipient_type_id, recipient_id=notification.recipient_id,
        channel=channel, provider=provider, batch=batch, context=context, due_at=due_at,
        created_at=now, updated_at=now,
        snapshot={
            field.attname: None if field.value_from_object(notification) is None else field.value_to_string(notification)
            for field in _SNAPSHOT_FIELDS
        },
    )


def notification_of(delivery: Delivery) -> Notification:
    """The notification a delivery carries: its row, or for a silent send one rebuilt from the snapshot."""
    if delivery.notification_id is not None:
        return delivery.notification  # type: ignore[return-value]
    values = {
        field.attname: None if delivery.snapshot[field.attname] is None else field.to_python(delivery.snapshot[field.attname])
        for field in _SNAPSHOT_FIELDS if field.attname in delivery.snapshot
    }
    return Notification(recipient_type_id=delivery.recipient_type_id, recipient_id=delivery.recipient_id, **values)


def retry(queryset: Any) -> int:
    """Put deliveries back in the queue with a fresh budget of attempts; return how many.

    Each chunk gets a new batch id and a task after commit; what was sent stays sent."""
    from inbox.channels import tasks

    now = timezone.now()
    size = conf.get("DELIVERY_BATCH_SIZE")
    pks = list(queryset.exclude(status=Delivery.Status.SENT).values_list("pk", flat=True))
    batches = []
    db = queryset.db
    with transaction.atomic(using=db):
        for start in range(0, len(pks), size):
            batch = uuid.uuid4()
            Delivery.objects.using(db).filter(pk__in=pks[start:start + size]).update(
                status=Delivery.Status.PENDING, attempts=0, due_at=now, claim=None, claimed_until=None,
                batch=batch, updated_at=now,
            )
            batches.append(batch)
        transaction.on_commit(lambda: tasks.enqueue(batches), using=db)
    return len(pks)
