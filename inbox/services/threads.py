"""Muted threads: what a thread is, who muted it, and which recipients a send must skip.

A notification belongs to up to two threads, each named by a key stored in ``Mute.thread``:

- ``"target:<content type id>:<object id>"``: everything about one object ("the Apollo project");
- ``"root:<uid>"``: a conversation, named by the notification that started it (follow ``parent``
  up to one without a parent; a notification without a parent is its own root).

Muting a notification mutes both of its threads, so later notifications about the same object, and
replies anywhere beneath the same root, reach the person no more (no row, no delivery, no event).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef

from inbox import dialect
from inbox.models import Mute, Notification
from inbox.recipients import Key, key_of, keys_of

#: Ancestors read per query while looking for a root (threads are rarely deeper than this).
_LEVELS = 4
#: A parent chain longer than this is taken to loop (a hand-edited table): stop there.
_MAX_DEPTH = 1000


def target_key(obj: models.Model) -> str:
    type_id, object_id = key_of(obj)
    return f"target:{type_id}:{object_id}"


def root_key(uid: uuid.UUID | str) -> str:
    return f"root:{uuid.UUID(str(uid))}"


def root_uid(notification: Notification) -> uuid.UUID:
    """The uid of the notification that starts ``notification``'s thread.

    No query for a root or a direct reply to one whose parent is loaded; otherwise one query per
    ``_LEVELS`` ancestors.
    """
    if notification.parent_id is None:
        return notification.uid
    cached = notification._state.fields_cache.get("parent")  # loaded already: no query for a direct reply
    if isinstance(cached, Notification) and cached.parent_id is None:
        return cached.uid
    using = notification._state.db or dialect.alias()
    # (uid, parent) of a row and of its ancestors, _LEVELS deep, through LEFT JOINs.
    fields = []
    for depth in range(_LEVELS):
        path = "__".join(["parent"] * depth)
        fields += [f"{path}__uid", f"{path}__parent"] if path else ["uid", "parent"]
    current: int = notification.parent_id
    last = notification.uid
    for _hop in range(0, _MAX_DEPTH, _LEVELS):
        row = Notification.objects.using(using).filter(pk=current).values_list(*fields).first()
        if row is None:  # deleted meanwhile (its replies lose their parent): the last one read starts it
            break
        for index in range(0, len(row), 2):
            if row[index + 1] is None:
                return uuid.UUID(str(row[index]))
        last, current = uuid.UUID(str(row[-2])), row[-1]
    return last


def thread_keys(notification: Notification) -> list[str]:
    """The threads ``notification`` belongs to: its target's (when it has one) and its root's."""
    keys = []
    if notification.target_type_id is not None:
        keys.append(f"target:{notification.target_type_id}:{notification.target_id}")
    keys.append(root_key(root_uid(notification)))
    return keys


def send_keys(target: models.Model | None, parent: Notification | None) -> list[str]:
    """The threads a notification sent with ``target`` and ``parent`` will belong to (before it exists).

    Without a parent the new notification is a root of its own, which nobody can have muted yet.
    """
    keys = []
    if target is not None:
        keys.append(target_key(target))
    if parent is not None:
        keys.append(root_key(root_uid(parent)))
    return keys


def muted(keys: Iterable[str], *, using: str | None = None) -> set[Key]:
    """The recipients who muted any of ``keys``: one query (on the index of ``thread``)."""
    keys = sorted(set(keys))
    if not keys:
        return set()
    rows = (
        Mute.objects.using(using or dialect.alias())
        .filter(thread__in=keys)
        .values_list("recipient_type_id", "recipient_id")
    )
    return set(rows)


def without_muted(
    targets: list[models.Model] | models.QuerySet, keys: Iterable[str], *, using: str | None = None
) -> list[models.Model] | models.QuerySet:
    """``targets`` less the recipients who muted any of ``keys``, in one query. A list: the muted
    among them are read. A QuerySet stays a QuerySet: up to :data:`LISTED_MUTES` muters are read
    and left out by primary key (cheap for the INSERT ... SELECT); past that, a popular thread's
    muters stay in the database and a NOT EXISTS on the mutes' (recipient, thread) index leaves
    them out (each page of the insert then probes the index once per recipient)."""
    keys = sorted(set(keys))
    if not keys:
        return targets
    if isinstance(targets, list):
        skipped = muted(keys, using=using)
        return [obj for obj, key in zip(targets, keys_of(targets), strict=True) if key not in skipped]
    type_id = ContentType.objects.get_for_model(targets.model).pk
    mutes = Mute.objects.using(using or dialect.alias()).filter(recipient_type_id=type_id, thread__in=keys)
    listed = list(mutes.values_list("recipient_id", flat=True).distinct()[: LISTED_MUTES + 1])
    if len(listed) > LISTED_MUTES:
        return targets.exclude(Exists(mutes.filter(recipient_id=dialect.PkText(OuterRef("pk")))))
    pk_field = targets.model._meta.pk
    pks = []
    for object_id in listed:
        try:
            pks.append(pk_field.to_python(object_id))
        except ValidationError:  # an id this model could not have: nobody to leave out
            continue
    return targets.exclude(pk__in=pks) if pks else targets


#: Muters of a thread left out of a QuerySet send by primary key; more stay in the database.
LISTED_MUTES = 5_000


# -- One recipient's mutes ----------------------------------------------------------------------


def mute(recipient: models.Model, notification: Notification) -> bool:
    """Mute every thread of ``notification`` for ``recipient``; True if any was not muted yet."""
    type_id, object_id = key_of(recipient)
    keys = thread_keys(notification)
    using = dialect.alias()
    existing = set(
        Mute.objects.using(using)
        .filter(recipient_type_id=type_id, recipient_id=object_id, thread__in=keys)
        .values_list("thread", flat=True)
    )
    missing = [key for key in keys if key not in existing]
    if not missing:
        return False
    # ignore_conflicts: a concurrent mute of the same thread is the same wish, not an error.
    Mute.objects.using(using).bulk_create(
        [Mute(recipient_type_id=type_id, recipient_id=object_id, thread=key) for key in missing],
        ignore_conflicts=True,
    )
    return True


def unmute(recipient: models.Model, notification: Notification) -> bool:
    """Unmute every thread of ``notification`` for ``recipient``; True if any was muted."""
    type_id, object_id = key_of(recipient)
    deleted, _by_model = (
        Mute.objects.using(dialect.alias())
        .filter(recipient_type_id=type_id, recipient_id=object_id, thread__in=thread_keys(notification))
        .delete()
    )
    return bool(deleted)


def is_muted(recipient: models.Model, notification: Notification) -> bool:
    """Whether ``recipient`` muted any thread ``notification`` belongs to."""
    type_id, object_id = key_of(recipient)
    return (
        Mute.objects.using(dialect.alias())
        .filter(recipient_type_id=type_id, recipient_id=object_id, thread__in=thread_keys(notification))
        .exists()
    )
