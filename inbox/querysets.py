"""Query helpers for notifications and stats: ``Notification.objects.unread().recipients([u])``.

The two definitions every part of the kit shares (pages, preview, Stats, ``read()``,
``mark_all_read``, streams, admin) live here and nowhere else:

- **visible**: published. A scheduled notification (``send_at`` in the future) is stored
  unpublished and becomes visible, counted and announced at once when ``inbox_publish_due``
  publishes it; until then no page lists it and nothing counts it. A snoozed one is the same,
  with ``snoozed_until`` set (``.snoozed()``), until it comes back.
- **unread**: not read and not archived. Archiving files a notification away, so it no longer
  asks for attention; ``Stats.unread`` counts exactly ``visible().unread()``. Likewise unseen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from inbox import flags as flagmod
from inbox import stats_row
from inbox.recipients import Key, content_types, generic_q, key_of


def flag_q(flag: flagmod.FlagLike) -> Q:
    """Q for "has this flag"; ``ValueError`` for an unregistered flag."""
    return any_flag_q([flag])


def any_flag_q(flags: Iterable[flagmod.FlagLike]) -> Q:
    """Q for "has any of these flags" (no flags: matches nothing); ``ValueError`` for an unregistered one.

    Built-in flags are timestamp tests; every custom one is folded into ONE ``EXISTS`` over the
    flag table with ``value IN (...)``: an index probe per notification, or a scan of the
    (value, notification) index, whichever the database prefers.
    """
    from inbox.models import Notification

    query = Q(pk__in=[])
    custom: list[int] = []
    for member in Notification.flags_registry.resolve(flags):
        if flagmod.is_builtin(member):
            query |= Q(**{f"{flagmod.BUILTIN_FIELDS[flagmod.Flag(member.value)]}__isnull": False})
        else:
            custom.append(member.value)
    if custom:
        query |= Q(custom_flags_exist(custom))
    return query


def custom_flags_exist(values: Iterable[int]) -> Exists:
    """``EXISTS`` a flag row of the outer notification with one of ``values``."""
    from inbox.models import NotificationFlag

    values = sorted(set(values))
    rows = NotificationFlag.objects.filter(notification=OuterRef("pk"))
    rows = rows.filter(value=values[0]) if len(values) == 1 else rows.filter(value__in=values)
    return Exists(rows)


class NotificationQuerySet(models.QuerySet):
    def flagged(self, *flags: flagmod.FlagLike) -> NotificationQuerySet:
        """Notifications that have every one of ``flags``."""
        return self.filter(*(flag_q(flag) for flag in flags))

    def unflagged(self, *flags: flagmod.FlagLike) -> NotificationQuerySet:
        """Notifications that have none of ``flags``."""
        return self.exclude(any_flag_q(flags))

    def visible(self) -> NotificationQuerySet:
        """Published: what pages list and Stats count (see the module docstring)."""
        return self.filter(is_published=True)

    def read(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=False)

    def unread(self) -> NotificationQuerySet:
        """Not read and not archived: what ``Stats.unread`` counts (of the visible ones)."""
        return self.filter(read_at__isnull=True, archived_at__isnull=True)

    def seen(self) -> NotificationQuerySet:
        return self.filter(seen_at__isnull=False)

    def unseen(self) -> NotificationQuerySet:
        """Not seen and not archived: what ``Stats.unseen`` counts (of the visible ones)."""
        return self.filter(seen_at__isnull=True, archived_at__isnull=True)

    def archived(self) -> NotificationQuerySet:
        return self.filter(archived_at__isnull=False)

    def active(self) -> NotificationQuerySet:
        """Not archived."""
        return self.filter(archived_at__isnull=True)

    def starred(self) -> NotificationQuerySet:
        return self.filter(starred_at__isnull=False)

    def recipients(self, recipients: Iterable[models.Model] | models.QuerySet) -> NotificationQuerySet:
        return self.filter(generic_q("recipient", recipients))

    def actors(self, actors: Iterable[models.Model] | models.QuerySet) -> NotificationQuerySet:
        return self.filter(generic_q("actor", actors))

    def actions(self, actions: Iterable[models.Model] | models.QuerySet) -> NotificationQuerySet:
        return self.filter(generic_q("action", actions))

    def targets(self, targets: Iterable[models.Model] | models.QuerySet) -> NotificationQuerySet:
        return self.filter(generic_q("target", targets))

    def actor_types(self, types: Iterable[Any]) -> NotificationQuerySet:
        return self.filter(actor_type__in=content_types(types))

    def action_types(self, types: Iterable[Any]) -> NotificationQuerySet:
        return self.filter(action_type__in=content_types(types))

    def target_types(self, types: Iterable[Any]) -> NotificationQuerySet:
        return self.filter(target_type__in=content_types(types))

    def sent(self, now: datetime | None = None) -> NotificationQuerySet:
        """Visible (published); with ``now``, also sent no later than ``now``."""
        queryset = self.visible()
        return queryset.filter(sent_at__lte=now) if now is not None else queryset

    def scheduled(self, now: datetime | None = None) -> NotificationQuerySet:
        """Sent for later and not yet visible: waiting for ``inbox_publish_due`` (due or not).
        Snoozed notifications wait the same way but are listed by :meth:`snoozed` only."""
        return self.filter(is_published=False, snoozed_until__isnull=True)

    def snoozed(self) -> NotificationQuerySet:
        """Hidden by ``manager.snooze`` until ``snoozed_until``, when ``inbox_publish_due`` brings them back."""
        return self.filter(is_published=False, snoozed_until__isnull=False)

    def roots(self) -> NotificationQuerySet:
        """Notifications that start a thread (have no parent)."""
        return self.filter(parent__isnull=True)

    def expired(self, now: datetime | None = None) -> NotificationQuerySet:
        return self.filter(expires_at__lte=now or timezone.now())

    def unexpired(self, now: datetime | None = None) -> NotificationQuerySet:
        """Without an ``expires_at``, or one still ahead: pages never show an expired notification,
        whether or not ``inbox_clear --expired`` has deleted it yet."""
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now or timezone.now()))


class StatsQuerySet(models.QuerySet):
    """``Stats.objects.recipients([user]).first()``, the read django-notifications-style code does,
    skips the ORM's query compilation (most of its cost) when nothing else was asked of the
    queryset: see inbox.stats_row."""

    #: The one recipient this queryset is exactly "the Stats row of", or None (set only by
    #: :meth:`recipients` on an unmodified queryset; any further call clones it away).
    _single_recipient: Key | None = None

    def recipients(self, recipients: Iterable[models.Model] | models.QuerySet) -> StatsQuerySet:
        if isinstance(recipients, (list, tuple)) and len(recipients) == 1 and isinstance(recipients[0], models.Model):
            key = key_of(recipients[0])
            lookups = {"recipient_type_id": key[0], "recipient_id": key[1]}
            if not stats_row.is_unmodified(self):
                return self.filter(**lookups)
            # Django's deferred filter (as its related managers use): added to the query the first
            # time anything reads it, so first()'s fixed statement never pays for building it.
            found = self.all()
            found._deferred_filter = (False, (), lookups)  # type: ignore[attr-defined]
            found._single_recipient = key
            return found
        return self.filter(generic_q("recipient", recipients))

    def first(self) -> Any:
        if self._single_recipient is not None and self._result_cache is None:
            return stats_row.read(self.model, self._single_recipient, self.db)
        return super().first()
