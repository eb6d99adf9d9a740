"""Erasing a recipient's data: when a recipient is deleted, and for what is already orphaned.

Deleting an instance of a model in ``INBOX["RECIPIENT_MODELS"]`` (by default
``settings.AUTH_USER_MODEL``) deletes that recipient's notifications and their Stats row in the
same transaction, so a person's inbox goes with the person. :func:`erase` does the same for a
recipient that stays (a data-erasure request), and :func:`erase_orphans` (``inbox_clear
--orphans``) sweeps up after recipients deleted before this existed, or removed without
Django's delete signals (raw SQL, another program, a model added to the setting later).

Notifications are deleted through ``inbox.services.manager.delete``, so Stats stay right and
the kit's signals (and Django's delete signals) fire as for any other delete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.signals import setting_changed
from django.db import models, router, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils.translation import gettext as _

from inbox import conf
from inbox.models import Delivery, Digest, DigestSchedule, Mute, Notification, Preference, Stats
from inbox.recipients import key_of

_connected: list[type[models.Model]] = []


def recipient_models() -> list[type[models.Model]]:
    """The models named by ``INBOX["RECIPIENT_MODELS"]`` (None: the user model; []: none)."""
    labels = conf.get("RECIPIENT_MODELS")
    if labels is None:
        labels = [settings.AUTH_USER_MODEL]
    if isinstance(labels, str):
        labels = [labels]
    result = []
    for label in labels:
        try:
            result.append(apps.get_model(label))
        except (LookupError, ValueError):
            raise ImproperlyConfigured(
                _('INBOX["RECIPIENT_MODELS"] names %(label)r, which is not an installed model ("app_label.Model").')
                % {"label": label}
            ) from None
    return result


def _dispatch_uid(model: type[models.Model]) -> str:
    return f"inbox.erasure:{model._meta.label_lower}"


def connect() -> None:
    """Erase on delete for exactly the configured recipient models (called from the app's ready())."""
    disconnect()
    for model in recipient_models():
        # One receiver per recipient model, never a receiver for every sender: a model with any
        # pre_delete/post_delete receiver loses Django's fast delete (one DELETE statement), so
        # a global one would make every bulk delete of the host site load its rows first.
        post_delete.connect(_recipient_deleted, sender=model, dispatch_uid=_dispatch_uid(model))
        _connected.append(model)


def disconnect() -> None:
    while _connected:
        model = _connected.pop()
        post_delete.disconnect(sender=model, dispatch_uid=_dispatch_uid(model))


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("INBOX", "AUTH_USER_MODEL"):
        connect()


def _recipient_deleted(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    # post_delete runs inside Django's deletion transaction, after the row is gone (so a
    # ProtectedError never gets here), and while instance.pk is still set: a rollback of the
    # deletion brings the notifications back with it.
    erase(instance)


def erase(recipient: models.Model) -> int:
    """Delete ``recipient``'s notifications, Stats row, deliveries, preferences, digests and muted
    threads; returns how many notifications went."""
    from inbox.services import manager

    # One transaction: manager.delete locks the recipient's Stats row, so no send can add to
    # it between the notifications going and the row being dropped.
    with transaction.atomic(using=router.db_for_write(Notification)):
        count = manager.delete(Notification.objects.recipients([recipient]))
        Stats.objects.recipients([recipient]).delete()
        # Silent deliveries have no notification to cascade from, and keep what they said; the
        # person's choices, digests and muted threads are about them too.
        type_id, object_id = key_of(recipient)
        for model in PER_RECIPIENT:
            model._default_manager.filter(recipient_type_id=type_id, recipient_id=object_id).delete()
    return count


#: Rows keyed by a recipient (besides notifications and Stats) that go when the recipient does.
PER_RECIPIENT: list[type[models.Model]] = [Delivery, Preference, DigestSchedule, Digest, Mute]


# -- Orphans ------------------------------------------------------------------------------------


@dataclasses.dataclass
class OrphanSweep:
    """What :func:`erase_orphans` found (and, unless a dry run, deleted)."""

    recipients: int = 0
    notifications: int = 0
    stats: int = 0
    #: Deliveries, preferences, digest schedules, digests and muted threads of missing recipients.
    other: int = 0


def erase_orphans(*, batch_size: int | None = None, dry_run: bool = False) -> OrphanSweep:
    """Delete notifications and Stats rows whose recipient no longer exists, in batches.

    Every recipient content type present is checked, including those whose model is gone
    from the project. Each batch is its own short transaction, so senders are never held
    up for the whole sweep.
    """
    from inbox.services import manager

    size = batch_size or conf.get("CHANGE_BATCH_SIZE")
    sweep = OrphanSweep()
    for type_id, object_ids in _orphan_batches(size):
        notifications = Notification.objects.filter(recipient_type_id=type_id, recipient_id__in=object_ids)
        stats = Stats.objects.filter(recipient_type_id=type_id, recipient_id__in=object_ids)
        sweep.recipients += len(object_ids)
        if dry_run:
            sweep.notifications += notifications.count()
            sweep.stats += stats.count()
            continue
        sweep.notifications += manager.delete(notifications)
        sweep.stats += stats.delete()[0]
    for model in PER_RECIPIENT:
        for type_id, object_ids in _orphans_of(model, size):
            rows = model._default_manager.filter(recipient_type_id=type_id, recipient_id__in=object_ids)
            sweep.other += rows.count() if dry_run else rows.delete()[0]
    return sweep


def _orphans_of(model: type[models.Model], size: int) -> Iterator[tuple[int, list[str]]]:
    """Batches of recipient ids that ``model``'s rows name and that no longer exist."""
    rows = model._default_manager.order_by()
    for type_id in sorted(set(rows.values_list("recipient_type_id", flat=True).distinct())):
        recipient_model = ContentType.objects.get_for_id(type_id).model_class()
        for object_ids in _id_batches(rows.filter(recipient_type_id=type_id), size):
            missing = object_ids if recipient_model is None else _missing(recipient_model, object_ids)
            if missing:
                yield type_id, missing


def _orphan_batches(size: int) -> Iterator[tuple[int, list[str]]]:
    type_ids = set(Notification.objects.order_by().values_list("recipient_type_id", flat=True).distinct())
    type_ids |= set(Stats.objects.order_by().values_list("recipient_type_id", flat=True).distinct())
    for type_id in sorted(type_ids):
        model = ContentType.objects.get_for_id(type_id).model_class()
        with_notifications = Notification.objects.filter(recipient_type_id=type_id)
        # Stats rows of recipients that still have notifications go with those notifications.
        stats_only = Stats.objects.filter(recipient_type_id=type_id).exclude(
            models.Exists(
                Notification.objects.filter(
                    recipient_type_id=models.OuterRef("recipient_type_id"),
                    recipient_id=models.OuterRef("recipient_id"),
                )
            )
        )
        for queryset in (with_notifications, stats_only):
            for object_ids in _id_batches(queryset, size):
                missing = object_ids if model is None else _missing(model, object_ids)
                if missing:
                    yield type_id, missing


def _id_batches(queryset: models.QuerySet, size: int) -> Iterator[list[str]]:
    """Distinct recipient ids of ``queryset``, by keyset: each batch is one indexed range read."""
    last: str | None = None
    while True:
        page = queryset if last is None else queryset.filter(recipient_id__gt=last)
        ids = list(page.order_by("recipient_id").values_list("recipient_id", flat=True).distinct()[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _missing(model: type[models.Model], object_ids: list[str]) -> list[str]:
    """The ids among ``object_ids`` (as stored: ``str(pk)``) that name no row of ``model``."""
    pk = model._meta.pk
    assert pk is not None
    values = []
    for object_id in object_ids:
        try:
            values.append(pk.to_python(object_id))
        except (ValidationError, ValueError, TypeError):
            pass  # not a valid key of this model, so no row has it
    # The base manager: a default manager that hides rows (soft deletion) must not make
    # their notifications look orphaned.
    existing = {str(value) for value in model._base_manager.filter(pk__in=values).values_list("pk", flat=True)}
    return [object_id for object_id in object_ids if object_id not in existing]
