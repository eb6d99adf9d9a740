"""Grouping: ``send(..., group_key=...)`` folds a notification into the recipient's open row with that key.

A recipient's *head* for a key is their newest published, unread, unarchived notification with that
``group_key``. A grouped send gives recipients without a head a new row (which becomes their head)
and, for those with one, changes the head instead of adding a row:

- each notification of the group is kept as a :class:`GroupedItem` in its own words ("Bob
  commented on Apollo"): at the first fold the head's original is copied, and every fold adds the
  new one (two INSERT ... SELECTs per chunk of recipients), so opening the row lists them all;
- the head takes the new send's actor, action, level, link, extra and time (it moves to the top),
  ``group_size`` grows by one and ``group_actors`` by one when the actor is new to the group; its
  message is re-rendered with "Alice and 4 others" in place of ``{actor}`` (one UPDATE);
- it is news again: unseen (Stats move it from seen to unseen), but counted once (no new total or
  unread), announced as new (toast and list refresh), and returned by ``send()`` beside the new rows.

Two senders of one key are serialised before the heads are looked up, so they end with one row:
by a lock named after the key (PostgreSQL's advisory lock; SQLite's write lock) or, on
MariaDB/MySQL, by the recipients' Stats rows, locked (created first when missing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, models
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inbox import dialect, stats
from inbox.exceptions import NotificationError
from inbox.formatting import MessageTemplate
from inbox.models import GroupedItem, Notification, Stats
from inbox.recipients import Key, keys_q

#: The longest group key (the column's size).
MAX_KEY_LENGTH = 128

#: (recipient key, recipient instance or None): what send() reads recipients as, a chunk at a time.
Entry = tuple[Key, models.Model | None]


def check_key(group_key: str | None) -> str | None:
    if group_key is None:
        return None
    if not isinstance(group_key, str) or not group_key or len(group_key) > MAX_KEY_LENGTH:
        raise NotificationError(
            _("group_key must be a non-empty string of at most %(limit)d characters, not %(key)r.")
            % {"limit": MAX_KEY_LENGTH, "key": group_key}
        )
    return group_key


def actor_phrase(count: int) -> Callable[[str], str]:
    """What ``{actor}`` shows in a group with ``count`` other actors: "Alice and 4 others"."""

    def phrase(actor: str) -> str:
        if count < 1:
            return actor
        return ngettext("%(actor)s and %(count)s other", "%(actor)s and %(count)s others", count) % {
            "actor": actor,
            "count": count,
        }

    return phrase


@dataclasses.dataclass(frozen=True)
class Head:
    """A recipient's open row that absorbed the send, as ``send()`` returns it."""

    pk: int
    uid: Any
    type_id: int
    recipient_id: str
    message: str
    #: Its fields that differ from what a new row of the send would hold.
    overrides: dict[str, Any]


class Folder:
    """Folds one send into the recipients' heads, a chunk of recipients at a time."""

    def __init__(
        self,
        key: str,
        template: MessageTemplate,
        text: str | None,
        context: Mapping[str, Any],
        shared: Mapping[str, Any],
        *,
        db: str,
        now: datetime,
        sink: Callable[[Head], None],
    ) -> None:
        self.key = key
        self.template = template
        self.text = text
        self.context = dict(context)
        self.shared = dict(shared)
        self.db = db
        self.now = now
        self.sink = sink
        self.state = stats.State.of(Notification(**{**self.shared, "message": text or ""}))
        self._messages: dict[int, str] = {}  # by the number of other actors, when no recipient is named
        # Taken at once (inside send()'s transaction) and held to its end; else rows are locked per chunk.
        self.key_locked = dialect.lock_name(connections[db], f"inbox.group:{key}", Stats._meta.db_table)

    @staticmethod
    def applies(group_key: str | None, shared: Mapping[str, Any]) -> bool:
        """Whether a send folds: it has a key and makes open rows (published, unread, unarchived)."""
        return (
            group_key is not None
            and bool(shared["is_published"])
            and shared.get("read_at") is None
            and shared.get("archived_at") is None
        )

    def fold(self, chunk: list[Entry]) -> list[Entry]:
        """Fold the send into the heads of ``chunk``'s recipients; returns those still needing a row."""
        remaining: list[Entry] = []
        for start in range(0, len(chunk), stats.KEY_CHUNK):
            remaining += self._fold(chunk[start : start + stats.KEY_CHUNK])
        return remaining

    def fold_queryset(self, targets: models.QuerySet) -> Iterator[models.QuerySet]:
        """A QuerySet of recipients (send()'s INSERT ... SELECT path, which needs ``key_locked``):
        fold into the heads among them, and yield the recipients still needing a row, as QuerySets
        for the INSERT ... SELECT. A new group (the usual case) costs one probe of the index and
        yields ``targets`` whole; otherwise recipients are read a page of primary keys at a time
        (never as instances), their heads looked up by those keys, and the rest of the page
        yielded by key: plans the database cannot get wrong, whatever its statistics say about
        rows this transaction just wrote."""
        assert self.key_locked
        type_id = ContentType.objects.get_for_model(targets.model).pk
        if not self._open_rows(type_id).exists():
            yield targets
            return
        last: Any = None
        while True:
            page = targets if last is None else targets.filter(pk__gt=last)
            pks = list(page.order_by("pk").values_list("pk", flat=True)[: stats.KEY_CHUNK])
            if not pks:
                return
            heads = self._heads(Q(recipient_type_id=type_id, recipient_id__in=[str(pk) for pk in pks]))
            if heads:
                self._absorb(heads, {})
            rest = [pk for pk in pks if (type_id, str(pk)) not in heads]
            if rest:
                yield targets.model._default_manager.using(targets.db).filter(pk__in=rest)
            last = pks[-1]
            if len(pks) < stats.KEY_CHUNK:
                return

    def _open_rows(self, type_id: int) -> models.QuerySet:
        return Notification.objects.using(self.db).filter(
            group_key=self.key, recipient_type_id=type_id, read_at__isnull=True, archived_at__isnull=True,
        )

    def _fold(self, part: list[Entry]) -> list[Entry]:
        keys = [key for key, _recipient in part]
        if not self.key_locked:
            # Before reading heads: a concurrent grouped send to these recipients waits here (and
            # the rows exist first, so even a first-ever send locks), then sees the head the other made.
            stats.lock(keys, using=self.db)
        heads = self._heads(keys_q(keys))
        if not heads:
            return part
        self._absorb(heads, {key: recipient for key, recipient in part})
        return [(key, recipient) for key, recipient in part if key not in heads]

    def _absorb(self, heads: dict[Key, tuple[Any, ...]], recipients: dict[Key, models.Model | None]) -> None:
        """Fold the send into ``heads`` (``recipients``: the instances a per-recipient template needs)."""
        deltas = stats.Deltas()
        by_message: dict[str, list[int]] = {}
        new_actor: list[int] = []
        found: list[Head] = []
        plain: dict[str, list[int]] = {}  # each head's new item, in its own words
        for key, row in heads.items():
            pk, uid, _t, _r, actor_type_id, actor_id, size, actors, seen_at, starred_at, created_at, *rest = row
            target_type_id, target_id, category, parent_id, known_actor = rest
            is_new = not known_actor and (actor_type_id, actor_id) != (
                self.shared["actor_type_id"],
                self.shared["actor_id"],
            )
            actors += int(is_new)
            if is_new:
                new_actor.append(pk)
            message = self._message(actors - 1, recipients.get(key))
            by_message.setdefault(message, []).append(pk)
            plain.setdefault(self._message(0, recipients.get(key)), []).append(pk)
            old = stats.State(published=True, seen=seen_at is not None, starred=starred_at is not None)
            new = dataclasses.replace(old, seen=self.state.seen, starred=old.starred or self.state.starred)
            if new != old:  # usually equal (an unseen row stays unseen): nothing to count
                deltas.add(key, old, new)
            overrides: dict[str, Any] = {"created_at": created_at, "group_size": size + 1, "group_actors": actors}
            if starred_at is not None:
                overrides["starred_at"] = starred_at
            for name, value in (("target_type_id", target_type_id), ("target_id", target_id),
                                ("category", category), ("parent_id", parent_id)):
                if value != self.shared[name]:
                    overrides[name] = value
            found.append(Head(pk, uid, key[0], key[1], message, overrides))
        ids = [head.pk for head in found]
        self._copy_firsts(ids)
        self._add_items(plain)
        self._update(ids, new_actor, by_message)
        if deltas.counters:
            stats.apply(deltas, now=self.now, using=self.db)
        for head in found:
            self.sink(head)

    def _heads(self, condition: Q, limit: int | None = None) -> dict[Key, tuple[Any, ...]]:
        """The newest open row with the key of each recipient matching ``condition``: one query
        (at most ``limit`` rows, recipients in order)."""
        known = GroupedItem.objects.filter(
            head=OuterRef("pk"), actor_type_id=self.shared["actor_type_id"], actor_id=self.shared["actor_id"]
        )
        rows = (
            Notification.objects.using(self.db)
            .filter(condition, group_key=self.key, read_at__isnull=True, archived_at__isnull=True, is_published=True)
            .annotate(known_actor=Exists(known))
            .order_by("recipient_type_id", "recipient_id", "-sent_at", "-pk")
            # A locking read: on MariaDB a plain SELECT would read the transaction's snapshot,
            # which may be older than the head a concurrent sender just committed.
            .select_for_update()
            .values_list(
                "pk", "uid", "recipient_type_id", "recipient_id", "actor_type_id", "actor_id", "group_size",
                "group_actors", "seen_at", "starred_at", "created_at", "target_type_id", "target_id",
                "category", "parent_id", "known_actor",
            )
        )
        if limit is not None:
            rows = rows[:limit]
        heads: dict[Key, tuple[Any, ...]] = {}
        for row in rows:
            heads.setdefault((row[2], row[3]), row)  # the newest first: an older open one stays as it is
        return heads

    def _message(self, others: int, recipient: models.Model | None) -> str:
        if self.text is not None:  # the same for everyone: rendered once per number of other actors
            if others not in self._messages:
                self._messages[others] = (
                    self.template.render(self.context, actor_phrase=actor_phrase(others))
                    if others and self.template.uses_actor else self.text
                )
            return self._messages[others]
        context = {**self.context, "recipient": recipient}
        if others and self.template.uses_actor:
            return self.template.render(context, actor_phrase=actor_phrase(others))
        return self.template.render(context)

    def _ids(self, ids: list[int]) -> RawSQL:
        """``pk IN`` this: the ids travel as one JSON parameter, however many there are."""
        source = dialect.rows_source(connections[self.db], ["int"])
        return RawSQL(f"SELECT p.c0 FROM ({source}) p", [dialect.encode_rows([pk] for pk in ids)])

    def _copy_firsts(self, ids: list[int]) -> None:
        """One INSERT ... SELECT: a head folding for the first time keeps its original as an item
        (later folds have it already, and the head's message then reads "… and n others")."""
        connection = connections[self.db]
        quote = connection.ops.quote_name
        copied = ["id", "actor_type_id", "actor_id", "message", "url", "sent_at"]
        sql = (
            f"INSERT INTO {quote(GroupedItem._meta.db_table)} ({', '.join(map(quote, _ITEM_COLUMNS))}) "
            f"SELECT {', '.join('n.' + quote(name) for name in copied)} "
            f"FROM {quote(Notification._meta.db_table)} n "
            f"WHERE n.{quote('group_size')} = 1 "
            f"AND n.{quote('id')} IN (SELECT p.c0 FROM ({dialect.rows_source(connection, ['int'])}) p)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [dialect.encode_rows([pk] for pk in ids)])

    def _add_items(self, plain: dict[str, list[int]]) -> None:
        """One INSERT: the new notification as an item of each head, in the words it was sent with."""
        connection = connections[self.db]
        quote = connection.ops.quote_name
        shared = self.shared
        sent_at = Notification._meta.get_field("sent_at").get_db_prep_save(shared["sent_at"], connection)
        sql = (
            f"INSERT INTO {quote(GroupedItem._meta.db_table)} ({', '.join(map(quote, _ITEM_COLUMNS))}) "
            f"SELECT r.c0, %s, %s, r.c1, %s, %s FROM ({dialect.rows_source(connection, ['int', 'text'])}) r"
        )
        rows = dialect.encode_rows([pk, message] for message, pks in plain.items() for pk in pks)
        with connection.cursor() as cursor:
            cursor.execute(sql, [shared["actor_type_id"], shared["actor_id"], shared["url"], sent_at, rows])

    def _update(self, ids: list[int], new_actor: list[int], by_message: dict[str, list[int]]) -> None:
        """One UPDATE of every head: the new send's values, sizes grown, messages per number of actors."""
        shared = self.shared
        now = Value(self.now, output_field=models.DateTimeField())
        updates: dict[str, Any] = {}
        if len(new_actor) == len(ids):
            updates["group_actors"] = F("group_actors") + 1
        elif new_actor:
            updates["group_actors"] = F("group_actors") + Case(
                When(pk__in=self._ids(new_actor), then=Value(1)), default=Value(0)
            )
        if len(by_message) == 1:
            message: Any = Value(next(iter(by_message)))
        else:
            message = Case(
                *[When(pk__in=self._ids(pks), then=Value(text)) for text, pks in by_message.items()],
                default=F("message"),
                output_field=models.TextField(),
            )
        updates |= {
            "message": message,
            "group_size": F("group_size") + 1,
            "sent_at": shared["sent_at"],
            "updated_at": now,
            "seen_at": shared.get("seen_at"),
            "actor_type_id": shared["actor_type_id"],
            "actor_id": shared["actor_id"],
            "action_type_id": shared["action_type_id"],
            "action_id": shared["action_id"],
            "level": shared["level"],
            "url": shared["url"],
            "extra": shared["extra"],
            "expires_at": shared["expires_at"],
        }
        if shared.get("starred_at") is not None:
            updates["starred_at"] = Coalesce(F("starred_at"), now)
        Notification.objects.using(self.db).filter(pk__in=self._ids(ids)).update(**updates)


def _column(meta: Any, name: str) -> str:
    field = meta.get_field(name)
    if not isinstance(field, models.Field) or field.column is None:
        raise TypeError(f"{name!r} is not a concrete column.")
    return str(field.column)


_ITEM_COLUMNS = [_column(GroupedItem._meta, name) for name in ("head", "actor_type", "actor_id", "message", "url", "sent_at")]
