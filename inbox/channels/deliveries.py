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
from inbox.recipients import Key
from inbox.services import preferences
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
    batches once it commits; return the batch ids.

    Each recipient's preferences decide, now, what becomes of each of their deliveries: pending
    (sent by a task), skipped (turned off; recorded with the reason, never sent) or waiting for
    their digest window (``due_at`` = its end; inbox_send_digests sends it). Their choices are read
    in one query for everyone (and their schedules in one more), see inbox.services.preferences.
    """
    size = conf.get("DELIVERY_BATCH_SIZE")
    batches: list[uuid.UUID] = []
    targets = _targets(sent, keys=any(registry.Channel.registry[name].in_preferences for name in channels))
    decisions = preferences.decide_many(
        (key for _pk, key, _category in targets), {category for _pk, _key, category in targets}, channels,
        due_at, using=db,
    )
    # Rows that are not pending share a batch no task is ever given (one per send and status).
    idle: dict[str, uuid.UUID] = {Status.SKIPPED: uuid.uuid4(), Status.DIGEST: uuid.uuid4()}
    stored = all(notification.pk is not None for notification in sent[:1])
    if stored:
        writer = _RowWriter(context, due_at, now, db)
        for channel, provider in routes(channels):
            for start in range(0, len(targets), size):
                batch = uuid.uuid4()
                pending = False
                for pk, key, category in targets[start:start + size]:
                    status, window = decisions.outcome(key, channel, category)
                    pending |= status == Status.PENDING
                    writer.add(pk, batch if status == Status.PENDING else idle[status], channel, provider,
                               status, window)
                if pending:
                    batches.append(batch)
                if len(writer) >= _ROWS_PER_INSERT:  # flushed as it fills: memory stays flat
                    writer.flush()
        writer.flush()
    else:  # silent: nothing stored, so each delivery keeps what it will say
        for channel, provider in routes(channels):
            for start in range(0, len(sent), size):
                batch = uuid.uuid4()
                rows = []
                for notification, (_pk, key, category) in zip(sent[start:start + size], targets[start:start + size],
                                                              strict=True):
                    status, window = decisions.outcome(key, channel, category)
                    row = _silent_row(notification, channel, provider, batch, context, due_at, now)
                    if status != Status.PENDING:
                        row.batch, row.status = idle[status], status
                        row.last_error = preferences.skipped_reason() if status == Status.SKIPPED else ""
                        row.due_at = window or due_at
                    rows.append(row)
                Delivery.objects.using(db).bulk_create(rows)
                if any(row.status == Status.PENDING for row in rows):
                    batches.append(batch)
    if batches:
        from inbox.channels import tasks

        transaction.on_commit(lambda: tasks.enqueue(batches, due_at if due_at > now else None), using=db)
    return batches


def _targets(sent: Sequence[Notification], *, keys: bool) -> list[tuple[int | None, Key, str]]:
    """(primary key, recipient key, category) of each notification, without building instances
    for a stored send. Without ``keys`` (no channel has preferences) the keys are left blank."""
    if isinstance(sent, SentNotifications):
        category = sent.prototype.category
        if not keys:
            return [(pk, _NO_KEY, category) for pk in sent.ids()]
        return [
            (pk, (type_id, recipient_id), category)
            for pk, (type_id, recipient_id, _uid, _own) in zip(sent.ids(), sent.compact(), strict=True)
        ]
    return [(n.pk, (n.recipient_type_id, n.recipient_id), n.category) for n in sent]


_NO_KEY: Key = (0, "")

#: Delivery rows per INSERT: about 70 characters of JSON each, well under dialect's 4 MB.
_ROWS_PER_INSERT = 20_000
#: Different digest windows per INSERT, each a parameter of its CASE (SQLite may allow only 999).
_WINDOWS_PER_INSERT = 200

Status = Delivery.Status


class _RowWriter:
    """Collects delivery rows and writes them with one INSERT … SELECT from the notifications just
    written: the database copies the recipients; Python sends each row's notification id, batch,
    channel, provider and outcome (one JSON parameter) and the values rows share.

    The outcome is a small number: 0 pending, 1 skipped, 2 and up a digest whose window end is
    that entry of ``windows``; CASE expressions turn it into status, last_error and due_at, so any
    mix of outcomes is still one statement.
    """

    def __init__(self, context: dict[str, Any], due_at: datetime, now: datetime, db: str) -> None:
        self.context, self.due_at, self.now, self.db = context, due_at, now, db
        self.rows: list[tuple[int, uuid.UUID, str, str, int]] = []
        self.windows: dict[datetime, int] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, pk: int | None, batch: uuid.UUID, channel: str, provider: str, status: str,
            window: datetime | None) -> None:
        assert pk is not None
        if status == Status.PENDING:
            outcome = 0
        elif status == Status.SKIPPED:
            outcome = 1
        else:
            assert window is not None
            if window not in self.windows and len(self.windows) >= _WINDOWS_PER_INSERT:
                self.flush()
            outcome = self.windows.setdefault(window, len(self.windows) + 2)
        self.rows.append((pk, batch, channel, provider, outcome))

    def flush(self) -> None:
        if self.rows:
            _insert(self.rows, self.windows, self.context, self.due_at, self.now, self.db)
        self.rows, self.windows = [], {}


def _insert(
    rows: list[tuple[int, uuid.UUID, str, str, int]], windows: dict[datetime, int], context: dict[str, Any],
    due_at: datetime, now: datetime, db: str,
) -> None:
    connection = connections[db]
    quote = connection.ops.quote_name
    meta = Delivery._meta

    def prep(name: str, value: Any) -> Any:
        return _field(name).get_db_prep_save(value, connection)

    shared = {
        "attempts": 0, "provider_message_id": "", "snapshot": {}, "context": context,
        "created_at": now, "updated_at": now,
    }
    params = [prep(name, value) for name, value in shared.items()]
    # Per-row values that follow from the outcome (r.c4); a send without choices is all 0.
    status_sql = "CASE r.c4 WHEN 0 THEN %s WHEN 1 THEN %s ELSE %s END"
    params += [prep("status", Status.PENDING), prep("status", Status.SKIPPED), prep("status", Status.DIGEST)]
    error_sql = "CASE r.c4 WHEN 1 THEN %s ELSE %s END"
    params += [prep("last_error", preferences.skipped_reason()), prep("last_error", "")]
    # (a CASE needs a WHEN: without digests every row shares due_at)
    due_sql = "CASE r.c4 " + "WHEN %s THEN %s " * len(windows) + "ELSE %s END" if windows else "%s"
    for window, outcome in windows.items():
        params += [outcome, prep("due_at", window)]
    params.append(prep("due_at", due_at))
    columns = ["notification", "recipient_type", "recipient_id", "batch", "channel", "provider", *shared,
               "status", "last_error", "due_at"]
    batch_field = _field("batch")
    spelled: dict[uuid.UUID, str] = {}
    payload = dialect.encode_rows(
        [pk, spelled.setdefault(batch, str(batch_field.get_db_prep_value(batch, connection))), channel, provider,
         outcome]
        for pk, batch, channel, provider, outcome in rows
    )
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(str(_field(name).column)) for name in columns)}) "
        f"SELECT n.{quote('id')}, n.{quote('recipient_type_id')}, n.{quote('recipient_id')}, r.c1, r.c2, r.c3, "
        f"{', '.join(['%s'] * len(shared))}, {status_sql}, {error_sql}, {due_sql} "
        f"FROM {quote(Notification._meta.db_table)} n "
        f"JOIN ({dialect.rows_source(connection, ['int', 'uuid', 'text', 'text', 'int'])}) r ON n.{quote('id')} = r.c0"
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
    # Sent stays sent; one waiting for a digest is not stuck, it waits (and goes with the digest).
    pks = list(queryset.exclude(status__in=[Delivery.Status.SENT, Delivery.Status.DIGEST]).values_list("pk", flat=True))
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
