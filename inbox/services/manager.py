"""Changing, deleting, reading and recounting notifications, with Stats kept in step."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox import conf, dialect, events, stats
from inbox import flags as flagmod
from inbox.exceptions import NotificationError
from inbox.flags import Flag, FlagLike
from inbox.models import Notification
from inbox.recipients import Key, Recipients, keys_q, label, normalize
from inbox.recipients import key_of as recipient_key
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

    def _custom_masks(self) -> tuple[int, int]:
        """(bits to set, bits to clear) over every registered custom flag."""
        set_bits = clear_bits = 0
        for flag in Notification.flags_registry.custom():
            target = self.target(flag)
            if target is True:
                set_bits |= flagmod.bit(flag)
            elif target is False:
                clear_bits |= flagmod.bit(flag)
        return set_bits, clear_bits

    def transition(self, state: stats.State) -> stats.State:
        fields = {}
        for flag, field in flagmod.BUILTIN_FIELDS.items():
            target = self.target(flag)
            if target is not None:
                fields[field.removesuffix("_at")] = target
        set_bits, clear_bits = self._custom_masks()
        return dataclasses.replace(state, custom=(state.custom | set_bits) & ~clear_bits, **fields)

    def changing(self) -> Q:
        """Rows this change would actually alter."""
        query = Q(pk__in=[])
        for flag, field in flagmod.BUILTIN_FIELDS.items():
            target = self.target(flag)
            if target is not None:
                query |= Q(**{f"{field}__isnull": target})
        set_bits, clear_bits = self._custom_masks()
        if set_bits:
            query |= ~Q(Exact(F("custom_flags").bitand(set_bits), set_bits))
        if clear_bits:
            query |= ~Q(Exact(F("custom_flags").bitand(clear_bits), 0))
        return query

    def updates(self) -> dict[str, Any]:
        now = Value(self.now, output_field=models.DateTimeField())
        result: dict[str, Any] = {"updated_at": now}
        for flag, field in flagmod.BUILTIN_FIELDS.items():
            target = self.target(flag)
            if target is True:
                result[field] = Coalesce(F(field), now)  # keep when it was first set
            elif target is False:
                result[field] = None
        set_bits, clear_bits = self._custom_masks()
        if set_bits or clear_bits:
            result["custom_flags"] = F("custom_flags").bitor(set_bits).bitand(~clear_bits)
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

    def apply(rows: models.QuerySet, using: str) -> int:
        # Under the lock: only rows still needing the change are counted and updated.
        rows = rows.filter(change.changing())
        deltas = stats.Deltas()
        deltas.add_groups(stats.state_groups(rows), change.transition)
        count = rows.update(**change.updates())
        stats.apply(deltas, now=change.now, using=using)
        return count

    def changed(count: int) -> None:
        _send_robust(notifications_flags_changed, change=change, count=count)

    return _in_batches(_rerooted(change.queryset).filter(change.changing()), apply, before_updated=changed)


def _in_batches(
    queryset: models.QuerySet,
    work: Callable[[models.QuerySet, str], int],
    *,
    before_updated: Callable[[int], None] | None = None,
) -> int:
    """Run ``work(rows, using)`` over ``queryset`` one batch of recipients at a time.

    Locks are per recipient (their Stats rows), so that is the unit of a batch: up to
    ``CHANGE_BATCH_SIZE`` recipients, read in key order (keyset pages, flat memory), each batch in
    its own short transaction that locks those recipients' Stats rows before ``work`` reads any
    state, with ``rows`` confined to them. A change over one person's million rows is one batch
    (only that person's senders wait); a change over everyone never holds everyone's locks.
    Signals follow each batch that changed something, in the seed's order: ``before_updated``
    (flags changed), then ``notifications_updated``.
    """
    using = queryset.db
    total = 0
    recipients = queryset.order_by().values_list("recipient_type_id", "recipient_id").distinct()
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
    primary keys first: as a subquery it could pick other rows in each statement.
    """
    using = dialect.alias()
    if queryset.query.is_sliced or queryset.query.distinct or queryset.query.combinator:
        return Notification.objects.using(using).filter(pk__in=list(queryset.values_list("pk", flat=True)))
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

    def apply(rows: models.QuerySet, using: str) -> int:
        deltas = stats.Deltas()
        deltas.add_groups(stats.state_groups(rows), lambda state: None)
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
    and only rows still unpublished under that lock are flipped.
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
            rows = notifications.filter(pk__in=[pk for pk, t, r in candidates if (t, r) in locked], is_published=False)
            deltas = stats.Deltas()
            deltas.add_groups(stats.state_groups(rows), lambda state: dataclasses.replace(state, published=True))
            new: dict[Key, list[Notification]] = {}
            fields = ("uid", "recipient_type_id", "recipient_id", "message", "level", "category", "url", "sent_at")
            for notification in rows.only(*fields):
                new.setdefault((notification.recipient_type_id, notification.recipient_id), []).append(notification)
            count = rows.update(is_published=True, updated_at=now)
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
        if count:
            _send_robust(notifications_updated, recipients=sorted(new))
        published += count
        if not count or len(candidates) < batch_size:
            break
    return published


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
