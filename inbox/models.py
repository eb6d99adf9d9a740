from __future__ import annotations

import datetime
import enum
import uuid
from typing import Any

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import constants as message_levels
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inbox import flags as flagmod
from inbox.querysets import NotificationQuerySet, StatsQuerySet


class Level(models.IntegerChoices):
    """The levels of ``django.contrib.messages``, so a notification maps onto a message."""

    DEBUG = message_levels.DEBUG, _("debug")
    INFO = message_levels.INFO, _("info")
    SUCCESS = message_levels.SUCCESS, _("success")
    WARNING = message_levels.WARNING, _("warning")
    ERROR = message_levels.ERROR, _("error")


def _generic(prefix: str, *, required: bool = False) -> tuple[models.ForeignKey, models.CharField]:
    """The two columns of a generic relation; object ids are strings so any key type fits."""
    type_field: models.ForeignKey = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="+",
        # Every index costs each insert and each flag change; the recipient is
        # covered by the composite indexes, and actor/action/target are looked up
        # within a recipient's rows. Add your own index if you query them globally.
        db_index=False,
        null=not required,
        blank=not required,
        verbose_name=_("%(prefix)s type") % {"prefix": prefix},
    )
    id_field: models.CharField = models.CharField(
        _("%(prefix)s id") % {"prefix": prefix},
        max_length=64,
        blank=not required,
        default="",
    )
    return type_field, id_field


class Notification(models.Model):
    flags_registry = flagmod.FlagsRegistry()
    Level = Level

    uid = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)

    recipient_type, recipient_id = _generic("recipient", required=True)
    recipient = GenericForeignKey("recipient_type", "recipient_id")
    actor_type, actor_id = _generic("actor")
    actor = GenericForeignKey("actor_type", "actor_id")
    action_type, action_id = _generic("action")
    action = GenericForeignKey("action_type", "action_id")
    target_type, target_id = _generic("target")
    target = GenericForeignKey("target_type", "target_id")

    message = models.TextField(_("message"))
    category = models.SlugField(_("category"), max_length=64, blank=True, default="", db_index=False)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, default=Level.INFO)
    url = models.CharField(_("link"), max_length=2000, blank=True, default="")
    extra = models.JSONField(_("extra data"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    parent = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
        db_index=False,  # a partial index below: most notifications have no parent
    )

    # Built-in flags: when each was set (NULL = not set).
    seen_at = models.DateTimeField(_("seen at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    starred_at = models.DateTimeField(_("starred at"), null=True, blank=True)
    # A site's own flags are rows of NotificationFlag (``custom_flag_rows``), see inbox.flags.

    sent_at = models.DateTimeField(_("sent at"), default=timezone.now)
    # False while a scheduled notification waits for inbox_publish_due; only
    # published notifications are counted in Stats and announced to browsers.
    is_published = models.BooleanField(_("published"), default=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    #: Set while a snoozed notification waits (unpublished, ``sent_at`` = when it returns);
    #: cleared when inbox_publish_due brings it back.
    snoozed_until = models.DateTimeField(_("snoozed until"), null=True, blank=True)
    #: ``send(group_key=...)``: later notifications with the key fold into this unread one.
    #: Database defaults, so the set-based INSERTs of send() need not name them.
    group_key = models.CharField(_("group key"), max_length=128, blank=True, default="", db_default="")
    #: How many notifications the row stands for, and how many different actors sent them.
    group_size = models.PositiveIntegerField(_("group size"), default=1, db_default=1)
    group_actors = models.PositiveIntegerField(_("actors in group"), default=1, db_default=1)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-sent_at", "-id"]
        indexes = [
            models.Index(
                fields=["recipient_type", "recipient_id", "-sent_at", "-id"],
                name="inbox_recipient_newest",
            ),
            models.Index(
                fields=["recipient_type", "recipient_id", "-sent_at", "-id"],
                condition=Q(read_at__isnull=True, archived_at__isnull=True),
                name="inbox_recipient_unread",
            ),
            models.Index(fields=["parent"], condition=Q(parent__isnull=False), name="inbox_replies"),
            models.Index(fields=["sent_at"], condition=Q(is_published=False), name="inbox_scheduled"),
            models.Index(fields=["expires_at"], condition=Q(expires_at__isnull=False), name="inbox_expiring"),
            # The key first: "has anyone an open row of this group?" is one probe, before any
            # recipient is looked up.
            models.Index(
                fields=["group_key", "recipient_type", "recipient_id"],
                condition=~Q(group_key="") & Q(read_at__isnull=True, archived_at__isnull=True),
                name="inbox_open_groups",
            ),
        ]

    def __str__(self) -> str:
        return self.message

    @property
    def flags(self) -> frozenset[enum.Enum]:
        """Every registered flag this notification has.

        A site's own flags come from ``custom_flag_rows``: use ``prefetch_related("custom_flag_rows")``
        when listing many, or each notification costs a query. The notifications ``send()`` returns
        know their flags without one.
        """
        result: set[enum.Enum] = {
            flag for flag, field in flagmod.BUILTIN_FIELDS.items() if getattr(self, field) is not None
        }
        custom = self.flags_registry.custom()
        if custom:  # no site flags registered: nothing to read (and no query)
            values = self.custom_flag_values()
            result.update(flag for flag in custom if flag.value in values)
        return frozenset(result)

    def custom_flag_values(self) -> frozenset[int]:
        """The values of the site's own flags this notification has (registered or not)."""
        known = self.__dict__.get(_KNOWN_CUSTOM_FLAGS)
        if known is not None:
            return known
        if self.pk is None:
            return frozenset()
        return frozenset(row.value for row in self.custom_flag_rows.all())

    def has_flag(self, flag: flagmod.FlagLike) -> bool:
        member = self.flags_registry.get(flag)
        if flagmod.is_builtin(member):  # a timestamp of the row itself: never a query
            return getattr(self, flagmod.BUILTIN_FIELDS[flagmod.Flag(member.value)]) is not None
        return member.value in self.custom_flag_values()

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        # The flags a send gave it may have changed since: read them from the rows again.
        self.__dict__.pop(_KNOWN_CUSTOM_FLAGS, None)
        super().refresh_from_db(*args, **kwargs)

    @property
    def level_name(self) -> str:
        """A stable, untranslated name for the level ("info", "error"...), for CSS classes."""
        try:
            return Level(self.level).name.lower()
        except ValueError:
            return "info"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    @property
    def is_seen(self) -> bool:
        return self.seen_at is not None

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def is_starred(self) -> bool:
        return self.starred_at is not None


#: Where a notification that ``send()`` made (saved or not) keeps the custom flag values it was sent with.
_KNOWN_CUSTOM_FLAGS = "_inbox_custom_flags"


def set_known_custom_flags(notification: Notification, values: frozenset[int]) -> None:
    """Tell a notification the custom flag values it has, so reading them costs no query."""
    notification.__dict__[_KNOWN_CUSTOM_FLAGS] = frozenset(values)


def known_custom_flags(notification: Notification) -> frozenset[int] | None:
    """The values :func:`set_known_custom_flags` gave it, or None."""
    return notification.__dict__.get(_KNOWN_CUSTOM_FLAGS)


class NotificationFlag(models.Model):
    """One of a site's own flags (any 32-bit value but the built-ins' 1-4) on one notification.

    The unique (notification, value) index answers "the flags of these notifications" and
    "does this one have v"; the (value, notification) index answers "which have v", so a
    ``flags=`` filter is an index lookup whichever side the database starts from.
    """

    notification = models.ForeignKey(
        Notification,
        on_delete=models.CASCADE,
        related_name="custom_flag_rows",
        verbose_name=_("notification"),
        db_index=False,  # the unique (notification, value) index leads with it
    )
    value = models.IntegerField(_("value"))

    class Meta:
        verbose_name = _("notification flag")
        verbose_name_plural = _("notification flags")
        constraints = [
            models.UniqueConstraint(fields=["notification", "value"], name="inbox_flag_unique"),
        ]
        indexes = [models.Index(fields=["value", "notification"], name="inbox_flag_value")]

    def __str__(self) -> str:
        return f"{self.notification_id}: {self.value}"


class Stats(models.Model):
    """Cached counts for one recipient, kept in step by every write in inbox.services.

    Counts cover published notifications; ``unread`` and ``unseen`` leave archived ones out.
    """

    recipient_type, recipient_id = _generic("recipient", required=True)
    recipient = GenericForeignKey("recipient_type", "recipient_id")

    total = models.IntegerField(_("total"), default=0)
    unread = models.IntegerField(_("unread"), default=0)
    unseen = models.IntegerField(_("unseen"), default=0)
    read = models.IntegerField(_("read"), default=0)
    seen = models.IntegerField(_("seen"), default=0)
    archived = models.IntegerField(_("archived"), default=0)
    starred = models.IntegerField(_("starred"), default=0)
    #: Counts of a site's own flags: {"<flag value>": count}.
    custom = models.JSONField(_("custom flag counts"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = StatsQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification stats")
        verbose_name_plural = _("notification stats")
        constraints = [
            models.UniqueConstraint(fields=["recipient_type", "recipient_id"], name="inbox_stats_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_type_id}:{self.recipient_id} ({self.unread}/{self.total})"

    @property
    def flags(self) -> dict[enum.Enum, int]:
        """Count per registered flag."""
        builtin: dict[enum.Enum, int] = {
            flagmod.Flag.SEEN: self.seen,
            flagmod.Flag.READ: self.read,
            flagmod.Flag.ARCHIVED: self.archived,
            flagmod.Flag.STARRED: self.starred,
        }
        custom: dict[enum.Enum, int] = {
            flag: int(self.custom.get(str(flag.value), 0)) for flag in Notification.flags_registry.custom()
        }
        return {**builtin, **custom}

    def count(self, flag: Any) -> int:
        return self.flags[Notification.flags_registry.get(flag)]


class Delivery(models.Model):
    """One notification on its way to one recipient through one channel's provider.

    Rows are written in the transaction that stores the notifications, so a delivery is never
    lost between commit and enqueue; a task claims them by ``batch`` (its only argument).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")
        #: Waiting for the recipient's digest window (``due_at`` is its end): sent by inbox_send_digests.
        DIGEST = "digest", _("waiting for digest")

    #: Null for a silent send: the notification was never stored; ``snapshot`` holds it.
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries",
        verbose_name=_("notification"),
    )
    recipient_type, recipient_id = _generic("recipient", required=True)
    recipient = GenericForeignKey("recipient_type", "recipient_id")
    channel = models.CharField(_("channel"), max_length=64)
    provider = models.CharField(_("provider"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    #: What a delivery task is given: the rows it may claim.
    batch = models.UUIDField(_("batch"), default=uuid.uuid4)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True, default="")
    snapshot = models.JSONField(_("notification snapshot"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    context = models.JSONField(_("channel context"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    #: Not attempted before this (a countdown, or the backoff after a failure).
    due_at = models.DateTimeField(_("due at"), default=timezone.now)
    #: A worker holds the row until then; a crashed worker's rows are taken again after it.
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    claim = models.UUIDField(_("claim"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["batch"], name="inbox_delivery_batch"),
            models.Index(fields=["claim"], condition=Q(claim__isnull=False), name="inbox_delivery_claim"),
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="inbox_delivery_due"),
            models.Index(fields=["due_at"], condition=Q(status="digest"), name="inbox_delivery_digest"),
            models.Index(fields=["recipient_type", "recipient_id"], name="inbox_delivery_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.provider} → {self.recipient_type_id}:{self.recipient_id} ({self.status})"


class GroupedItem(models.Model):
    """An earlier notification of a group, kept when a newer one folded into the group's row.

    The row (``head``) always shows the newest; opening it lists these beneath it.
    """

    head = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="grouped_items", verbose_name=_("grouped into"),
        db_index=False,  # the (head, sent_at) index leads with it
    )
    actor_type, actor_id = _generic("actor")
    actor = GenericForeignKey("actor_type", "actor_id")
    message = models.TextField(_("message"))
    url = models.CharField(_("link"), max_length=2000, blank=True, default="")
    sent_at = models.DateTimeField(_("sent at"))

    class Meta:
        verbose_name = _("grouped notification")
        verbose_name_plural = _("grouped notifications")
        ordering = ["-sent_at", "-id"]
        indexes = [
            models.Index(fields=["head", "-sent_at"], name="inbox_grouped_head"),
            # "Is this actor new to the group?", asked of every head a grouped send folds into.
            models.Index(fields=["head", "actor_type", "actor_id"], name="inbox_grouped_actor"),
        ]

    def __str__(self) -> str:
        return self.message


class Preference(models.Model):
    """One person's choice for one category on one channel.

    ``channel=""`` applies to every channel of the category; ``category=""`` is the channel's
    master switch. Only choices are stored: a missing row means the default (on).
    """

    recipient_type, recipient_id = _generic("recipient", required=True)
    recipient = GenericForeignKey("recipient_type", "recipient_id")
    category = models.CharField(_("category"), max_length=64, blank=True, default="")
    channel = models.CharField(_("channel"), max_length=64, blank=True, default="")
    enabled = models.BooleanField(_("enabled"))
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["recipient_type", "recipient_id", "category", "channel"], name="inbox_preference_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_type_id}:{self.recipient_id} {self.category or '*'}/{self.channel or '*'}={self.enabled}"


class Frequency(models.TextChoices):
    IMMEDIATELY = "immediately", _("Immediately")
    HOURLY = "hourly", _("Hourly digest")
    DAILY = "daily", _("Daily digest")
    WEEKLY = "weekly", _("Weekly digest")


class DigestSchedule(models.Model):
    """How often one person hears through one channel; no row means immediately."""

    Frequency = Frequency

    recipient_type, recipient_id = _generic("recipient", required=True)
    recipient = GenericForeignKey("recipient_type", "recipient_id")
    channel = models.CharField(_("channel"), max_length=64)
    frequency = models.CharField(_("frequency"), max_length=16, choices=Frequency.choices, default=Frequency.IMMEDIATELY)
    #: Daily and weekly digests go at this wall-clock time in ``time_zone``.
    time = models.TimeField(_("time of day"), default=datetime.time(9, 0))
    #: Weekly digests go on this day (0 = Monday, as ``date.weekday()``).
    weekday = models.PositiveSmallIntegerField(_("weekday"), default=0)
    #: An IANA name such as "Europe/Paris"; empty means the site's TIME_ZONE.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("digest schedule")
        verbose_name_plural = _("digest schedules")
        constraints = [
            models.UniqueConstraint(fields=["recipient_type", "recipient_id", "channel"], name="inbox_digest_schedule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_type_id}:{self.recipient_id} {self.channel}: {self.frequency}"


class Digest(models.Model):
    """One digest: a recipient's deliveries on one channel's provider for one window.

    Inserting the row claims the window (the unique constraint), so two runs of
    inbox_send_digests never send the same window twice.
    """

    class Status(models.TextChoices):
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    recipient_type, recipient_id = _generic("recipient", required=True)
    recipient = GenericForeignKey("recipient_type", "recipient_id")
    channel = models.CharField(_("channel"), max_length=64)
    provider = models.CharField(_("provider"), max_length=64)
    window_end = models.DateTimeField(_("window end"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SENDING)
    size = models.PositiveIntegerField(_("notifications"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True, default="")
    #: The runner sending it: set with the claim, so each runner reads back which windows are its own.
    claim = models.UUIDField(_("claim"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("digest")
        verbose_name_plural = _("digests")
        ordering = ["-window_end", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient_type", "recipient_id", "channel", "provider", "window_end"], name="inbox_digest_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.provider} → {self.recipient_type_id}:{self.recipient_id} @ {self.window_end}"


class Mute(models.Model):
    """A recipient's muted thread: ``send()`` skips them for notifications in it.

    ``thread`` is ``"target:<content type id>:<object id>"`` or ``"root:<root notification uid>"``
    (see inbox.services.threads).
    """

    recipient_type, recipient_id = _generic("recipient", required=True)
    recipient = GenericForeignKey("recipient_type", "recipient_id")
    thread = models.CharField(_("thread"), max_length=200)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("muted thread")
        verbose_name_plural = _("muted threads")
        constraints = [
            models.UniqueConstraint(fields=["recipient_type", "recipient_id", "thread"], name="inbox_mute_unique"),
        ]
        indexes = [models.Index(fields=["thread"], name="inbox_mute_thread")]

    def __str__(self) -> str:
        return f"{self.recipient_type_id}:{self.recipient_id} muted {self.thread}"
