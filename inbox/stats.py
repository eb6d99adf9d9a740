"""Where the counts live: Stats deltas, upserts, locking and recounts.

Every write in ``inbox.services`` changes Stats by a *delta* computed from the
notifications it touches, instead of recounting: a recipient with a million
notifications costs the same to update as one with ten. Writers that read
notification state before changing it (flag changes, deletes, publishing due
notifications) first lock the Stats rows of the recipients involved, in key
order, so concurrent writers on PostgreSQL neither double-count nor deadlock.
``recount``/``collect`` rebuild from scratch when something bypassed the services.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from django.db import models, router, transaction
from django.db.models import Count, Exists, ExpressionWrapper, F, OuterRef, Q
from django.utils import timezone

from inbox import conf, dialect
from inbox.recipients import Key, key_of, keys_q

#: The integer columns of Stats, in table order.
COUNTERS = ("total", "unread", "unseen", "read", "seen", "archived", "starred")
#: Stay well under SQLite's and PostgreSQL's bound-parameter limits.
KEY_CHUNK = 2000


@dataclasses.dataclass(frozen=True)
class State:
    """What Stats needs to know about one notification.

    ``custom`` (the values of a site's own flags) is known for notifications held in Python (a
    send); states read back by :func:`state_groups` leave it empty, and the writers count the
    flag rows with :func:`flag_counts` instead.
    """

    published: bool
    read: bool = False
    seen: bool = False
    archived: bool = False
    starred: bool = False
    custom: frozenset[int] = frozenset()

    @classmethod
    def of(cls, notification: Any) -> State:
        return cls(
            published=notification.is_published,
            read=notification.read_at is not None,
            seen=notification.seen_at is not None,
            archived=notification.archived_at is not None,
            starred=notification.starred_at is not None,
            custom=notification.custom_flag_values(),
        )

    def counters(self) -> Counter[str]:
        if not self.published:
            return Counter()
        return Counter(
            total=1,
            unread=int(not self.read and not self.archived),
            unseen=int(not self.seen and not self.archived),
            read=int(self.read),
            seen=int(self.seen),
            archived=int(self.archived),
            starred=int(self.starred),
        )

    def custom_counters(self) -> Counter[str]:
        if not self.published or not self.custom:
            return Counter()
        return Counter({str(value): 1 for value in self.custom})


Transition = Callable[[State], State | None]


class Deltas:
    """Changes to apply to Stats, per recipient."""

    def __init__(self) -> None:
        self.counters: dict[Key, Counter[str]] = defaultdict(Counter)
        self.custom: dict[Key, Counter[str]] = defaultdict(Counter)

    def add(self, key: Key, old: State | None, new: State | None, times: int = 1) -> None:
        before, after = (old or State(False)), (new or State(False))
        for name, value in _difference(after.counters(), before.counters()).items():
            self.counters[key][name] += value * times
        for name, value in _difference(after.custom_counters(), before.custom_counters()).items():
            self.custom[key][name] += value * times

    def add_new(self, keys: Iterable[Key], state: State) -> None:
        """One new notification in ``state`` for each of ``keys`` (distinct): the common send."""
        counters, custom = state.counters(), state.custom_counters()
        # Keys are distinct, so every recipient can share one (never mutated) Counter.
        self.counters.update(dict.fromkeys(keys, counters))
        if custom:
            self.custom.update(dict.fromkeys(keys, custom))

    def add_groups(self, groups: Iterable[tuple[Key, State, int]], transition: Transition) -> None:
        for key, state, times in groups:
            self.add(key, state, transition(state), times)

    def add_flag_counts(self, counts: Mapping[Key, Counter[str]], sign: int = 1) -> None:
        """Add (``sign`` 1) or take away (-1) per-recipient custom flag counts (from :func:`flag_counts`)."""
        for key, counter in counts.items():
            for name, value in counter.items():
                self.custom[key][name] += sign * value

    def keys(self) -> set[Key]:
        return set(self.counters) | set(self.custom)


def _difference(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    names = set(after) | set(before)
    return {name: after[name] - before[name] for name in names if after[name] != before[name]}


def state_groups(queryset: models.QuerySet) -> Iterator[tuple[Key, State, int]]:
    """The notifications of ``queryset`` grouped by recipient and state, with counts: one query."""
    rows = (
        queryset.order_by()
        .values(
            "recipient_type_id",
            "recipient_id",
            "is_published",
            is_read=_is_set("read_at"),
            is_seen=_is_set("seen_at"),
            is_archived=_is_set("archived_at"),
            is_starred=_is_set("starred_at"),
        )
        .annotate(n=Count("*"))
    )
    for row in rows:
        state = State(
            published=bool(row["is_published"]),
            read=bool(row["is_read"]),
            seen=bool(row["is_seen"]),
            archived=bool(row["is_archived"]),
            starred=bool(row["is_starred"]),
        )
        yield (row["recipient_type_id"], row["recipient_id"]), state, row["n"]


def flag_counts(rows: models.QuerySet, values: Iterable[int]) -> dict[Key, Counter[str]]:
    """How many of ``rows`` have each custom flag of ``values``, per recipient: {key: {"<value>": n}}.

    One grouped query joining the rows to the flag table (nothing when ``values`` is empty).
    Callers confine ``rows`` to what Stats counts (published ones) themselves.
    """
    values = sorted(set(values))
    result: dict[Key, Counter[str]] = defaultdict(Counter)
    if not values:
        return result
    grouped = (
        rows.order_by()
        .filter(custom_flag_rows__value__in=values)
        .values("recipient_type_id", "recipient_id", flag_value=F("custom_flag_rows__value"))
        .annotate(n=Count("*"))
    )
    for row in grouped:
        result[(row["recipient_type_id"], row["recipient_id"])][str(row["flag_value"])] += row["n"]
    return result


def _is_set(field: str) -> ExpressionWrapper:
    return ExpressionWrapper(Q(**{f"{field}__isnull": False}), output_field=models.BooleanField())


def recipient_keys(queryset: models.QuerySet) -> list[Key]:
    rows = queryset.order_by().values_list("recipient_type_id", "recipient_id").distinct()
    return sorted(rows)


def _chunks(keys: list[Key]) -> Iterator[list[Key]]:
    for start in range(0, len(keys), KEY_CHUNK):
        yield keys[start : start + KEY_CHUNK]


def lock(keys: Iterable[Key], *, skip_locked: bool = False, using: str | None = None) -> list[Key]:
    """Lock (creating when missing) the Stats rows of ``keys``; returns the keys locked.

    Must run inside a transaction. Rows are locked in Python's key order by the
    same upsert every writer uses, so two writers never wait on each other in
    opposite orders. With ``skip_locked`` (PostgreSQL, MariaDB), rows another
    transaction holds are left out instead of waited for.
    """
    from inbox.models import Stats

    using = using or dialect.alias()
    ordered = sorted(set(keys))
    if not skip_locked or not dialect.connection_for(using).features.has_select_for_update_skip_locked:
        _upsert(dict.fromkeys(ordered, Counter()), now=timezone.now(), using=using)
        return ordered
    _upsert(dict.fromkeys(ordered, Counter()), now=timezone.now(), using=using, create_only=True)
    locked: list[Key] = []
    for chunk in _chunks(ordered):
        rows = (
            Stats.objects.using(using)
            .select_for_update(skip_locked=True)
            .filter(keys_q(chunk))
            .values_list("recipient_type_id", "recipient_id")
        )
        locked.extend(rows)
    return sorted(locked)


def apply(deltas: Deltas, *, now: datetime | None = None, using: str | None = None) -> None:
    """Add ``deltas`` to Stats (creating rows as needed) in a constant number of queries."""
    now = now or timezone.now()
    using = using or dialect.alias()
    if deltas.counters:
        _upsert(deltas.counters, now=now, using=using)
    if any(deltas.custom.values()):
        _apply_custom(deltas.custom, using=using)


def _stats_columns() -> list[str]:
    return ["recipient_type_id", "recipient_id", *COUNTERS, "custom", "updated_at"]


def _stats_table() -> str:
    from inbox.models import Stats

    return Stats._meta.db_table


def _upsert(
    counters: Mapping[Key, Counter[str]], *, now: datetime, using: str, create_only: bool = False
) -> None:
    """One INSERT ... SELECT with an upsert clause per chunk; rows in key order so locks are taken in order."""
    connection = dialect.connection_for(using)
    quote = connection.ops.quote_name
    columns = _stats_columns()
    ordered = sorted(counters)
    select = ", ".join(f"r.c{i}" for i in range(2 + len(COUNTERS)))
    kinds = ["int", "text", *["int"] * len(COUNTERS)]
    suffix = dialect.upsert_suffix(
        connection,
        _stats_table(),
        ["recipient_type_id", "recipient_id"],
        COUNTERS,
        ["updated_at"],
        create_only=create_only,
    )
    for chunk in _chunks(ordered):
        payload = dialect.encode_rows([key[0], key[1], *[counters[key][name] for name in COUNTERS]] for key in chunk)
        sql = (
            f"INSERT INTO {quote(_stats_table())} ({', '.join(map(quote, columns))}) "
            # WHERE 1 = 1: SQLite cannot otherwise tell the upsert clause from a join constraint.
            f"SELECT {select}, %s, %s FROM ({dialect.rows_source(connection, kinds)}) r WHERE 1 = 1 {suffix}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, ["{}", now, payload])


def upsert_new_sql(connection: Any, rows: str, condition: str, state: State, now: datetime) -> tuple[str, list[Any]]:
    """An upsert counting one new notification in ``state`` for each of ``rows`` meeting ``condition``.

    ``rows`` is a table or a CTE of the same statement with ``recipient_type_id`` and
    ``recipient_id`` columns, one row per recipient. Returns the SQL and its parameters, to which
    the caller appends those of ``condition``. Rows are written in the order every other writer
    locks Stats rows in (:func:`dialect.key_order`).
    """
    quote = connection.ops.quote_name
    counters = state.counters()
    keys = [f"{rows}.{quote('recipient_type_id')}", f"{rows}.{quote('recipient_id')}"]
    suffix = dialect.upsert_suffix(
        connection, _stats_table(), ["recipient_type_id", "recipient_id"], COUNTERS, ["updated_at"]
    )
    sql = (
        f"INSERT INTO {quote(_stats_table())} ({', '.join(map(quote, _stats_columns()))}) "
        f"SELECT {', '.join(keys)}, {', '.join(['%s'] * len(COUNTERS))}, %s, %s FROM {rows} "
        f"WHERE {condition} {dialect.key_order(connection, *keys)} {suffix}"
    )
    return sql, [*(counters[name] for name in COUNTERS), "{}", now]


def _apply_custom(custom: Mapping[Key, Counter[str]], *, using: str) -> None:
    """Custom flag counts live in a JSON column: read, add and write back under a row lock."""
    from inbox.models import Stats

    keys = sorted(key for key, delta in custom.items() if delta)
    for chunk in _chunks(keys):
        rows = list(
            Stats.objects.using(using)
            .select_for_update()
            .filter(keys_q(chunk))
            .order_by("recipient_type_id", "recipient_id")
        )
        for stats in rows:
            totals = Counter({name: int(value) for name, value in stats.custom.items()})
            totals.update(custom[(stats.recipient_type_id, stats.recipient_id)])
            stats.custom = {name: value for name, value in sorted(totals.items()) if value}
        Stats.objects.using(using).bulk_update(rows, ["custom"])


def recount(keys: Iterable[Key] | None = None, *, using: str | None = None) -> dict[Key, dict[str, Any]]:
    """Fresh counts from the notifications themselves (the truth Stats caches).

    Without ``keys`` this counts every recipient at once: for tests and small sites.
    :func:`collect` recounts a big table in bounded batches instead.
    """
    from inbox.models import Notification

    queryset = Notification.objects.using(using or dialect.alias()).visible()
    if keys is not None:
        keys = list(keys)
        if not keys:
            return {}
        queryset = queryset.filter(keys_q(keys))
    aggregates = {
        "total": Count("pk"),
        "unread": Count("pk", filter=Q(read_at__isnull=True, archived_at__isnull=True)),
        "unseen": Count("pk", filter=Q(seen_at__isnull=True, archived_at__isnull=True)),
        "read": Count("pk", filter=Q(read_at__isnull=False)),
        "seen": Count("pk", filter=Q(seen_at__isnull=False)),
        "archived": Count("pk", filter=Q(archived_at__isnull=False)),
        "starred": Count("pk", filter=Q(starred_at__isnull=False)),
    }
    rows = queryset.order_by().values("recipient_type_id", "recipient_id").annotate(**aggregates)
    result: dict[Key, dict[str, Any]] = {}
    for row in rows:
        counts: dict[str, Any] = {name: row[name] for name in COUNTERS}
        counts["custom"] = {}
        result[(row["recipient_type_id"], row["recipient_id"])] = counts
    # The site's own flags: one more grouped query, over the flag rows of the same notifications.
    for key, custom in flag_counts(queryset, Notification.flags_registry.custom_values()).items():
        if key in result:
            result[key]["custom"] = {name: value for name, value in sorted(custom.items()) if value}
    return result


def collect(keys: Iterable[Key] | None = None, *, batch_size: int | None = None) -> int:
    """Rebuild Stats from the notifications, for ``keys`` or for every recipient; returns rows written.

    Works through the recipients in batches of ``CHANGE_BATCH_SIZE``, each in a short transaction
    that locks only its own Stats rows: senders to other recipients never wait on a recount, and
    memory stays flat however many recipients there are.
    """
    using = dialect.alias()
    size = batch_size or conf.get("CHANGE_BATCH_SIZE")
    if keys is not None:
        ordered = sorted(set(keys))
        return sum(_collect_batch(ordered[i : i + size], using) for i in range(0, len(ordered), size))
    written = 0
    for batch in key_pages(_notification_keys(using), size):
        written += _collect_batch(batch, using)
    # Recipients whose notifications are all gone: their rows must read zero, not their old counts.
    for batch in key_pages(_stale_stats_keys(using), size):
        written += _collect_batch(batch, using)
    return written


def _collect_batch(keys: list[Key], using: str) -> int:
    from inbox.models import Stats

    with transaction.atomic(using=using):
        keys = lock(keys, using=using)
        fresh = recount(keys, using=using)
        zero: dict[str, Any] = {**dict.fromkeys(COUNTERS, 0), "custom": {}}
        now = timezone.now()
        rows = [
            Stats(pk=pk, recipient_type_id=type_id, recipient_id=object_id, updated_at=now,
                  **fresh.get((type_id, object_id), zero))
            for pk, type_id, object_id in Stats.objects.using(using)
            .filter(keys_q(keys))
            .values_list("pk", "recipient_type_id", "recipient_id")
        ]
        Stats.objects.using(using).bulk_update(rows, [*COUNTERS, "custom", "updated_at"], batch_size=500)
    return len(rows)


def _notification_keys(using: str) -> models.QuerySet:
    from inbox.models import Notification

    return Notification.objects.using(using).values_list("recipient_type_id", "recipient_id").distinct()


def _stale_stats_keys(using: str) -> models.QuerySet:
    from inbox.models import Notification, Stats

    visible = Notification.objects.using(using).visible().filter(
        recipient_type_id=OuterRef("recipient_type_id"), recipient_id=OuterRef("recipient_id")
    )
    return (
        Stats.objects.using(using)
        .filter(~Exists(visible))
        .exclude(total=0, unread=0, unseen=0, read=0, seen=0, archived=0, starred=0)
        .values_list("recipient_type_id", "recipient_id")
    )


def key_pages(keys: models.QuerySet, size: int) -> Iterator[list[Key]]:
    """``keys`` (a values_list of recipient type and id) in key order, ``size`` at a time (keyset paging)."""
    last: Key | None = None
    while True:
        page = keys.order_by("recipient_type_id", "recipient_id")
        if last is not None:
            page = page.filter(
                Q(recipient_type_id__gt=last[0]) | Q(recipient_type_id=last[0], recipient_id__gt=last[1])
            )
        batch = [(type_id, object_id) for type_id, object_id in page[:size]]
        if batch:
            yield batch
        if len(batch) < size:
            return
        last = batch[-1]


@dataclasses.dataclass(frozen=True)
class Counts:
    """Counts for what one request sees (one recipient, or the sum for a shared inbox)."""

    total: int = 0
    unread: int = 0
    unseen: int = 0
    read: int = 0
    seen: int = 0
    archived: int = 0
    starred: int = 0


def counts_for(recipients: Iterable[Any] | models.QuerySet) -> Counts:
    """The badge numbers for ``recipients``: one indexed query, never a COUNT(*) over notifications."""
    from inbox.models import Stats

    if isinstance(recipients, (list, tuple)):
        if not recipients:
            return Counts()
        if len(recipients) == 1:
            return _counts_of(key_of(recipients[0]))
    row = Stats.objects.recipients(recipients).aggregate(**{name: models.Sum(name) for name in COUNTERS})
    return Counts(**{name: row[name] or 0 for name in COUNTERS})


def _read_connection() -> Any:
    from inbox.models import Stats

    return dialect.connection_for(router.db_for_read(Stats) or dialect.alias())


def _counts_of(key: Key) -> Counts:
    """The badge path: a fixed statement, skipping the ORM's query compilation (most of the cost)."""
    connection = _read_connection()
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {', '.join(map(quote, COUNTERS))} FROM {quote(_stats_table())} "
        f"WHERE {quote('recipient_type_id')} = %s AND {quote('recipient_id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, key)
        row = cursor.fetchone()
    return Counts(*row) if row else Counts()


def counts_by_key(keys: Iterable[Key]) -> dict[Key, Counts]:
    """Counts of many recipients in one query (chunked): how live streams woken together read badges."""
    connection = _read_connection()
    quote = connection.ops.quote_name
    result: dict[Key, Counts] = {}
    ordered = sorted(set(keys))
    for chunk in _chunks(ordered):
        source = dialect.rows_source(connection, ["int", "text"])
        sql = (
            f"SELECT s.{quote('recipient_type_id')}, s.{quote('recipient_id')}, "
            f"{', '.join('s.' + quote(name) for name in COUNTERS)} FROM {quote(_stats_table())} s "
            f"JOIN ({source}) k ON s.{quote('recipient_type_id')} = k.c0 AND s.{quote('recipient_id')} = k.c1"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [dialect.encode_rows(chunk)])
            for type_id, object_id, *values in cursor.fetchall():
                result[(type_id, object_id)] = Counts(*values)
    return result


def total(counts: Iterable[Counts]) -> Counts:
    """The sum of several recipients' counts (a shared inbox)."""
    fields = [field.name for field in dataclasses.fields(Counts)]
    items = list(counts)
    return Counts(**{name: sum(getattr(c, name) for c in items) for name in fields})
