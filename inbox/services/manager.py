"""Changing, deleting, reading and recounting notifications, with Stats kept in step."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox import conf, dialect, events, stats
from inbox import flags as flagmod
from inbox.exceptions import NotificationError
from inbox.flags import Flag, FlagLike
from inbox.models import Notification, NotificationFlag
from inbox.querysets import custom_flags_exist
from inbox.recipients import Key, Recipients, keys_q, label, normalize
from inbox.recipients import key_of as recipient_key
from inbox.services import counted_update, threads
from inbox.signals import notifications_flags_changed, notifications_updated


@dataclasses.dataclass(frozen=True)
class FlagChange:
    """One call to :func:`change_flags`, as the CHANGE_FLAG_PIPELINE sees it.

    ``specify`` is ``None`` unless the caller asked to set the flags exactly.
    """

    queryset: models.QuerySet
    add: frozenset[enum.Enum] = frozenset()
    remove: frozenset[enum.Enum] = frozenset()
    specify: frozenset[enum.Enum] | None = None
    now: datetime = dataclasses.field(default_factory=timezone.now)

    def target(self, flag: enum.Enum) -> bool | None:
        """True: set it; False: clear it; None: leave it."""
        if self.specify is not None:
            return flag in self.specify
        if flag in self.add:
            return True
        if flag in self.remove:
            return False
        return None

    def is_empty(self) -> bool:
        return self.specify is None and not self.add and not self.remove

    def custom_targets(self) -> tuple[frozenset[int], frozenset[int]]:
        """(values to add, values to remove) of the site's own flags, over every registered one."""
        add: set[int] = set()
        remove: set[int] = set()
        for flag in Notification.flags_registry.custom():
            target = self.target(flag)
            if target is True:
                add.add(flag.value)
            elif target is False:
                remove.add(flag.value)
        return frozenset(add), frozenset(remove)

    def transition(self, state: stats.State) -> stats.State:
        """The built-in flags of ``state`` after the change. The site's own flags are rows of their
        own table, counted by :func:`change_flags` from those rows, so ``state.custom`` is left as it is."""
        fields: dict[str, Any] = {}
        for flag, field in flagmod.BUILTIN_FIELDS.items():
            target = self.target(flag)
            if target is not None:
                fields[field.removesuffix("_at")] = target
        return dataclasses.replace(state, **fields)

    def builtin_changing(self) -> Q | None:
        """Rows whose built-in flags this change alters; None when it sets no built-in flag."""
        query: Q | None = None
        for flag, field in flagmod.BUILTIN_FIELDS.items():
            target = self.target(flag)
            if target is not None:
                term = Q(**{f"{field}__isnull": target})
                query = term if query is None else query | term
        return query

    def changing(self) -> Q:
        """Rows this change would actually alter."""
        query = self.builtin_changing() or Q(pk__in=[])
        add, remove = self.custom_targets()
        for value in sorted(add):
            query |= ~Q(custom_flags_exist([value]))
        if remove:
            query |= Q(custom_flags_exist(remove))
        return query

    def updates(self) -> dict[str, Any]:
        """The notification columns to write (built-in flags and ``updated_at``)."""
        now = Value(self.now, output_field=models.DateTimeField())
        result: dict[str, Any] = {"updated_at": now}
        for flag, field in flagmod.BUILTIN_FIELDS.items():
            target = self.target(flag)
            if target is True:
                result[field] = Coalesce(F(field), now)  # keep when it was first set
            elif target is False:
                result[field] = None
        return result


def change_flags(
    queryset: models.QuerySet,
    *,
    add: Iterable[FlagLike] = (),
    remove: Iterable[FlagLike] = (),
    specify: Iterable[FlagLike] = (),
    now: datetime | None = None,
) -> int:
    """Add and remove flags (or, with a non-empty ``specify``, set them exactly); returns rows changed.

    Works in batches of ``CHANGE_BATCH_SIZE`` rows, each in a short transaction that locks only
    the Stats rows of its own recipients, so a change over millions of rows never makes every
    sender wait. Inside a transaction of yours, the batches are savepoints of it.
    """
    registry = Notification.flags_registry
    specified = registry.resolve(specify)
    change = FlagChange(
        queryset=queryset,
        add=registry.resolve(add) if not specified else frozenset(),
        remove=registry.resolve(remove) if not specified else frozenset(),
        specify=specified or None,
        now=now or timezone.now(),
    )
    both = change.add & change.remove
    if both:
        raise ValueError(f"Cannot both add and remove {', '.join(sorted(flag.name for flag in both))}.")
    for step in conf.load_list("CHANGE_FLAG_PIPELINE"):
        change = step(change) or change
    if change.is_empty():
        return 0
    source = _rerooted(change.queryset)
    add_values, remove_values = change.custom_targets()
    custom = bool(add_values or remove_values)
    # The custom flags take statements of their own (see _write_custom); when the caller's filter
    # reads what those statements write, the batch's rows are pinned by primary key first.
    pin = custom and _reads_flags_or_updated_at(source)
    builtin_targets = {
        field: target
        for flag, field in flagmod.BUILTIN_FIELDS.items()
        if (target := change.target(flag)) is not None
    }
    # Split into one UPDATE per old state (counted_update), a filter reading other rows could
    # match differently in a later statement than in the first: then the state is read first.
    splittable = len(builtin_targets) == 1 or not _reads_other_rows(source)

    def apply(rows: models.QuerySet, using: str) -> int:
        # Under the lock: only rows still needing the change are counted and updated.
        changing = rows.filter(change.changing())
        deltas = stats.Deltas()
        if not custom and splittable and counted_update.supported(using):
            # The old states come back from the UPDATE itself: no SELECT of them first.
            count, groups = counted_update.update(changing, builtin_targets, change.updates(), using)
            deltas.add_groups(groups, change.transition)
        elif not custom:
            deltas.add_groups(stats.state_groups(changing), change.transition)
            count = changing.update(**change.updates())
        else:
            groups = list(stats.state_groups(changing))
            deltas.add_groups(groups, change.transition)
            _count_custom(deltas, groups, changing, add_values, remove_values, change.builtin_changing() is not None)
            parts = _pinned(changing, using) if pin else [rows]
            count = sum(_write_custom(part, change, add_values, remove_values, using) for part in parts)
        stats.apply(deltas, now=change.now, using=using)
        return count

    def changed(count: int) -> None:
        _send_robust(notifications_flags_changed, change=change, count=count)

    return _in_batches(source, apply, only=change.changing(), before_updated=changed)


def _count_custom(
    deltas: stats.Deltas,
    groups: list[tuple[Key, stats.State, int]],
    changing: models.QuerySet,
    add: frozenset[int],
    remove: frozenset[int],
    builtin: bool,
) -> None:
    """Custom flag deltas of a batch, before anything is written: adding v counts the published
    rows that lack it, removing v takes away those that have it (one grouped query)."""
    published: dict[Key, int] = {}
    for key, state, times in groups:
        if state.published:
            published[key] = published.get(key, 0) + times
    # Adding one flag alone changes only rows that lack it: none of them has it, no query needed.
    counted = add | remove if remove or len(add) > 1 or builtin else frozenset()
    having = stats.flag_counts(changing.filter(is_published=True), counted)
    for key, total in published.items():
        had = having.get(key)
        for value in add:
            gained = total - (had[str(value)] if had is not None else 0)
            if gained:
                deltas.custom[key][str(value)] += gained
    for key, counts in having.items():
        for value in remove:
            if counts.get(str(value)):
                deltas.custom[key][str(value)] -= counts[str(value)]


def _write_custom(
    rows: models.QuerySet, change: FlagChange, add: frozenset[int], remove: frozenset[int], using: str
) -> int:
    """Write a change that touches the site's own flags; returns the notifications changed.

    ``rows`` are the batch's notifications, and no statement here changes what their filter reads
    (see ``pin``). The order keeps every statement's own test true to the state before the change:
    ``updated_at`` of rows changing only custom flags, the flag rows added and removed, then the
    built-in flags (which the earlier statements do not read).
    """
    builtin = change.builtin_changing()
    changing = rows.filter(change.changing())
    now = Value(change.now, output_field=models.DateTimeField())
    count = (changing if builtin is None else changing.exclude(builtin)).update(updated_at=now)
    if add:
        _add_flag_rows(rows, add, using)
    if remove:
        NotificationFlag.objects.using(using).filter(
            value__in=sorted(remove), notification__in=rows.values("pk")
        )._raw_delete(using)
    if builtin is not None:
        count += rows.filter(builtin).update(**change.updates())
    return count


def _add_flag_rows(rows: models.QuerySet, values: frozenset[int], using: str) -> None:
    """One INSERT ... SELECT of a flag row for each of ``rows`` lacking each of ``values``."""
    connection = dialect.connection_for(using)
    quote = connection.ops.quote_name
    try:
        source, params = rows.order_by().values(nid=F("pk")).query.get_compiler(using).as_sql()
    except EmptyResultSet:
        return
    table = quote(NotificationFlag._meta.db_table)
    column, value = quote("notification_id"), quote("value")
    sql = (
        f"INSERT INTO {table} ({column}, {value}) "
        f"SELECT n.nid, v.c0 FROM ({source}) n CROSS JOIN ({dialect.rows_source(connection, ['int'])}) v "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} f WHERE f.{column} = n.nid AND f.{value} = v.c0)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, dialect.encode_rows([v] for v in sorted(values))])


#: Primary keys per statement when a batch's rows are pinned (their JSON stays well under MAX_PAYLOAD).
PIN_CHUNK = 100_000


def _pinned(changing: models.QuerySet, using: str) -> Iterator[models.QuerySet]:
    """The batch's changing rows fixed to their primary keys, ``PIN_CHUNK`` at a time, each passed
    to the database as one JSON parameter."""
    connection = dialect.connection_for(using)
    ids = array("q", changing.order_by("pk").values_list("pk", flat=True))
    source = dialect.rows_source(connection, ["int"])
    for start in range(0, len(ids), PIN_CHUNK):
        payload = dialect.encode_rows([pk] for pk in ids[start : start + PIN_CHUNK])
        yield Notification.objects.using(using).filter(pk__in=RawSQL(f"SELECT p.c0 FROM ({source}) p", [payload]))


def _reads_flags_or_updated_at(queryset: models.QuerySet) -> bool:
    """Whether ``queryset``'s filter reads the flag table or ``updated_at`` (conservatively, by its SQL)."""
    try:
        sql, _params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return False
    return NotificationFlag._meta.db_table in sql or "updated_at" in sql


def _reads_other_rows(queryset: models.QuerySet) -> bool:
    """Whether ``queryset``'s filter has a subquery (conservatively, by its SQL)."""
    try:
        sql, _params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return False
    return sql.count("SELECT") > 1


def _in_batches(
    queryset: models.QuerySet,
    work: Callable[[models.QuerySet, str], int],
    *,
    only: Q | None = None,
    before_updated: Callable[[int], None] | None = None,
) -> int:
    """Run ``work(rows, using)`` over ``queryset`` one batch of recipients at a time.

    Locks are per recipient (their Stats rows), so that is the unit of a batch: up to
    ``CHANGE_BATCH_SIZE`` recipients, read in key order (keyset pages, flat memory), each batch in
    its own short transaction that locks those recipients' Stats rows before ``work`` reads any
    state, with ``rows`` confined to them. A change over one person's million rows is one batch
    (only that person's senders wait); a change over everyone never holds everyone's locks.
    With ``only``, batches are made of the recipients of the rows matching it (``rows`` stay the
    whole of ``queryset`` for those recipients). Signals follow each batch that changed something,
    in the seed's order: ``before_updated`` (flags changed), then ``notifications_updated``.
    """
    using = queryset.db
    total = 0
    candidates = queryset if only is None else queryset.filter(only)
    recipients = candidates.order_by().values_list("recipient_type_id", "recipient_id").distinct()
    for page in stats.key_pages(recipients, conf.get("CHANGE_BATCH_SIZE")):
        with transaction.atomic(using=using):
            keys = stats.lock(page, using=using)
            count = work(queryset.filter(keys_q(keys)), using)
            if count:
                _announce(keys, using)
        if count:
            if before_updated is not None:
                before_updated(count)
            _send_robust(notifications_updated, recipients=keys)
        total += count
    return total


def _rerooted(queryset: models.QuerySet) -> models.QuerySet:
    """A plain filter over the same rows, on the database that holds them.

    A slice (``[:3]``, ``order_by("?")[:2]``) or a distinct or combined query is fixed to its
    primary keys first: as a subquery it could pick other rows in each statement. A filter across a
    join (``custom_flag_rows__value__in=[...]``, ``children__isnull=False``) becomes "pk in (that
    query)": counted through the join, a notification matched twice would count twice in Stats.
    """
    using = dialect.alias()
    if queryset.query.is_sliced or queryset.query.distinct or queryset.query.combinator:
        return Notification.objects.using(using).filter(pk__in=list(queryset.values_list("pk", flat=True)))
    # Active tables only: a filter on ``recipient_type_id`` leaves an unused content type alias.
    if queryset.query.count_active_tables() > 1:
        return Notification.objects.using(using).filter(pk__in=queryset.using(using).order_by().values("pk"))
    return queryset.using(using).order_by()


def _announce(keys: Iterable[Key], using: str) -> None:
    events.publish_on_commit([events.Event(recipient=label(key)) for key in keys], using=using)


def _send_robust(signal: Signal, **kwargs: Any) -> None:
    """Receivers run after the change's own transaction; one that raises is logged (by Django's
    send_robust, logger "django.dispatch") and never undoes the change."""
    signal.send_robust(sender=Notification, **kwargs)


def mark_read(queryset: models.QuerySet) -> int:
    return change_flags(queryset, add=[Flag.READ])


def mark_unread(queryset: models.QuerySet) -> int:
    return change_flags(queryset, remove=[Flag.READ])


def mark_seen(queryset: models.QuerySet) -> int:
    return change_flags(queryset, add=[Flag.SEEN])


def archive(queryset: models.QuerySet) -> int:
    return change_flags(queryset, add=[Flag.ARCHIVED])


def unarchive(queryset: models.QuerySet) -> int:
    return change_flags(queryset, remove=[Flag.ARCHIVED])


def star(queryset: models.QuerySet) -> int:
    return change_flags(queryset, add=[Flag.STARRED])


def unstar(queryset: models.QuerySet) -> int:
    return change_flags(queryset, remove=[Flag.STARRED])


def mark_all_read(recipient: Recipients) -> int:
    """Mark every visible unread notification of ``recipient`` read (scheduled ones stay as they are)."""
    return mark_read(Notification.objects.recipients(_as_list(recipient)).visible().unread())


def delete(queryset: models.QuerySet) -> int:
    """Delete notifications through Django's collector; returns how many notifications were deleted.

    A site's models with a foreign key to Notification are handled as their ``on_delete`` says,
    ``pre_delete``/``post_delete`` fire, and replies lose their parent. Batches as
    :func:`change_flags` does.
    """

    custom = Notification.flags_registry.custom_values()

    def apply(rows: models.QuerySet, using: str) -> int:
        deltas = stats.Deltas()
        deltas.add_groups(stats.state_groups(rows), lambda state: None)
        deltas.add_flag_counts(stats.flag_counts(rows.filter(is_published=True), custom), -1)
        _total, by_model = rows.delete()
        stats.apply(deltas, using=using)
        return by_model.get(Notification._meta.label, 0)

    return _in_batches(_rerooted(queryset), apply)


def read(uid: uuid.UUID | str, recipient: Recipients) -> Notification:
    """Mark one notification read and return it; NotificationError unless it is ``recipient``'s and visible."""
    try:
        uid = uid if isinstance(uid, uuid.UUID) else uuid.UUID(str(uid))
    except ValueError:
        raise NotificationError(_("No such notification.")) from None
    queryset = Notification.objects.using(dialect.alias()).recipients(_as_list(recipient)).visible().filter(uid=uid)
    notification = queryset.first()
    if notification is None:
        raise NotificationError(_("No such notification."))
    if notification.read_at is None:
        mark_read(queryset)
        notification.refresh_from_db()
    return notification


def publish_due(now: datetime | None = None, *, batch_size: int | None = None) -> int:
    """Make scheduled notifications that are due visible: counted and announced exactly once.

    Safe to run from several processes at once: a batch is claimed by locking the
    recipients' Stats rows (skipping those another publisher holds on PostgreSQL),
    and only rows still unpublished under that lock are flipped. A snoozed notification comes
    back this way too, unread, with ``snoozed_until`` cleared.
    """
    now = now or timezone.now()
    batch_size = batch_size or conf.get("BATCH_SIZE")
    using = dialect.alias()
    notifications = Notification.objects.using(using)
    published = 0
    while True:
        with transaction.atomic(using=using):
            due = notifications.filter(is_published=False, sent_at__lte=now).order_by("sent_at", "pk")
            candidates = list(due.values_list("pk", "recipient_type_id", "recipient_id")[:batch_size])
            if not candidates:
                break
            locked = set(stats.lock({(t, r) for _, t, r in candidates}, skip_locked=True, using=using))
            # Still due under the lock: a re-snooze committed since the read moved it later.
            rows = notifications.filter(pk__in=[pk for pk, t, r in candidates if (t, r) in locked], is_published=False,
                                        sent_at__lte=now)
            count, keys = _publish(rows, now, using)
        if count:
            _send_robust(notifications_updated, recipients=keys)
        published += count
        if not count or len(candidates) < batch_size:
            break
    return published


def _publish(rows: models.QuerySet, now: datetime, using: str, **updates: Any) -> tuple[int, list[Key]]:
    """Publish ``rows`` (unpublished, their recipients' Stats rows locked by the caller): count them,
    announce each as new after commit; returns (rows published, recipients changed)."""
    deltas = stats.Deltas()
    deltas.add_groups(stats.state_groups(rows), lambda state: dataclasses.replace(state, published=True))
    deltas.add_flag_counts(stats.flag_counts(rows, Notification.flags_registry.custom_values()))
    new: dict[Key, list[Notification]] = {}
    fields = ("uid", "recipient_type_id", "recipient_id", "message", "level", "category", "url", "sent_at", "extra")
    for notification in rows.only(*fields):
        if "sent_at" in updates:
            notification.sent_at = updates["sent_at"]
        new.setdefault((notification.recipient_type_id, notification.recipient_id), []).append(notification)
    count = rows.update(is_published=True, snoozed_until=None, updated_at=now, **updates)
    stats.apply(deltas, now=now, using=using)
    events.publish_on_commit(
        [
            events.Event(
                recipient=label(key),
                new=tuple(str(n.uid) for n in items),
                details=tuple(events.describe(n) for n in items),
            )
            for key, items in new.items()
        ],
        using=using,
    )
    return count, sorted(new)


# -- Muted threads (see inbox.services.threads) -------------------------------------------------


def mute(recipient: models.Model, notification: Notification) -> bool:
    """Mute the threads of ``notification`` for ``recipient``: later sends in them skip the recipient.
    Returns True if anything was not muted yet. Callers scope ``notification`` to the requester."""
    return threads.mute(recipient, notification)


def unmute(recipient: models.Model, notification: Notification) -> bool:
    """Unmute the threads of ``notification`` for ``recipient``; True if any was muted."""
    return threads.unmute(recipient, notification)


def is_muted(recipient: models.Model, notification: Notification) -> bool:
    return threads.is_muted(recipient, notification)


# -- Snooze ---------------------------------------------------------------------------------------


def snooze(queryset: models.QuerySet, until: datetime, *, now: datetime | None = None) -> int:
    """Hide notifications until ``until``, when ``inbox_publish_due`` brings them back unread.

    ``queryset`` is the caller's (already scoped) notifications; published ones are snoozed
    (uncounted, as if deleted, and listed only by ``.snoozed()``), snoozed ones move to the new
    time, scheduled ones are left alone. Returns how many changed. NotificationError unless
    ``until`` is an aware datetime in the future.
    """
    now = now or timezone.now()
    if not isinstance(until, datetime) or timezone.is_naive(until):
        raise NotificationError(_("A snooze needs an aware date and time."))
    if until <= now:
        raise NotificationError(_("A snooze must end in the future."))
    custom = Notification.flags_registry.custom_values()
    stamp = Value(now, output_field=models.DateTimeField())

    def apply(rows: models.QuerySet, using: str) -> int:
        # Under the lock: rows already snoozed only move; published ones leave the counts.
        count = rows.filter(is_published=False, snoozed_until__isnull=False).update(
            sent_at=until, snoozed_until=until, updated_at=stamp
        )
        waking = rows.filter(is_published=True)
        deltas = stats.Deltas()
        deltas.add_groups(stats.state_groups(waking), lambda state: None)
        deltas.add_flag_counts(stats.flag_counts(waking, custom), -1)
        count += waking.update(
            is_published=False, sent_at=until, snoozed_until=until, read_at=None, seen_at=None, archived_at=None,
            updated_at=stamp
        )
        stats.apply(deltas, now=now, using=using)
        return count

    only = Q(is_published=True) | Q(is_published=False, snoozed_until__isnull=False)
    return _in_batches(_rerooted(queryset), apply, only=only)


def unsnooze(queryset: models.QuerySet, *, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Bring snoozed notifications of ``queryset`` back now (unread, counted, announced once);
    returns how many came back. Others are left alone."""
    now = now or timezone.now()
    batch_size = batch_size or conf.get("BATCH_SIZE")
    using = dialect.alias()
    # Fixed to primary keys first: waking them changes what the caller's filter may read.
    snoozed = _rerooted(queryset).filter(is_published=False, snoozed_until__isnull=False)
    ids = array("q", snoozed.order_by("pk").values_list("pk", flat=True))
    woken = 0
    for start in range(0, len(ids), batch_size):
        chunk = list(ids[start : start + batch_size])
        with transaction.atomic(using=using):
            candidates = Notification.objects.using(using).filter(pk__in=chunk)
            stats.lock(stats.recipient_keys(candidates), using=using)
            # Under the lock, so a publisher that got there first is not published twice.
            rows = candidates.filter(is_published=False, snoozed_until__isnull=False)
            count, keys = _publish(rows, now, using, sent_at=now)
        if count:
            _send_robust(notifications_updated, recipients=keys)
        woken += count
    return woken


def collect_stats(recipients: Recipients | None = None) -> int:
    """Recount Stats from the notifications (all recipients when None); returns rows written."""
    if recipients is None:
        return stats.collect()
    targets = normalize(recipients)
    keys = [recipient_key(obj) for obj in targets] if isinstance(targets, list) else [
        recipient_key(obj) for obj in targets.iterator()
    ]
    return stats.collect(keys)


def _as_list(recipient: Recipients) -> Iterable[models.Model] | models.QuerySet:
    return [recipient] if isinstance(recipient, models.Model) else recipient
