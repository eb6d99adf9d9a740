"""Change built-in flags and learn, from the UPDATE itself, what Stats must change.

A flag change must know the state each row had before it (read? seen? archived?...) to adjust
Stats by a delta. Reading those states first (a grouped SELECT) costs as much as the UPDATE on a
large inbox. Where an UPDATE can hand rows back (PostgreSQL, SQLite), the change is split by the
old values of the flags it sets: one UPDATE per combination that needs changing (one for a single
flag, three for read-and-seen). Inside each, the old value of every flag the change sets is known
from its WHERE clause, and every other column is unchanged, so RETURNING tells the rest. The
split is exact: a row that one statement changed no longer matches any later one, because it
then has every flag the change sets at its target value.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import models
from django.db.models import Q
from django.db.models.sql import UpdateQuery

from inbox import dialect, stats
from inbox.recipients import Key

#: The built-in flag columns, with the name each has in stats.State.
STATE_FIELDS = {"read_at": "read", "seen_at": "seen", "archived_at": "archived", "starred_at": "starred"}

Group = tuple[Key, stats.State, int]


def supported(using: str) -> bool:
    """Whether an UPDATE on ``using`` can return rows (MySQL and MariaDB cannot)."""
    connection = dialect.connection_for(using)
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 35)
    return False


def update(
    rows: models.QuerySet, targets: Mapping[str, bool], updates: Mapping[str, Any], using: str
) -> tuple[int, list[Group]]:
    """Apply ``updates`` to the ``rows`` whose flag columns differ from ``targets`` (column: True to
    set it, False to clear it); returns (rows changed, their states before, grouped by recipient)."""
    fields = sorted(targets)
    # Only the unchanged flags that share a counter with a changed one affect the deltas
    # (whether a row is starred does not change what reading it does to Stats).
    others = [field for field in STATE_FIELDS if field not in targets and _shares_counter(field, targets)]
    groups: list[Group] = []
    changed = 0
    for size in range(len(fields), 0, -1):
        for changing in itertools.combinations(fields, size):
            condition = Q()
            for field in fields:
                needs_change = field in changing
                # "Needs change" for a flag to set is "is null"; for one to clear, "is not null".
                condition &= Q(**{f"{field}__isnull": targets[field] == needs_change})
            old = {field: (not targets[field]) if field in changing else targets[field] for field in fields}
            for (key, published, *flags), times in _run(rows.filter(condition), updates, others, using):
                # A flag left out of ``others`` reads False: it cannot change this delta.
                state_of = {**old, **{field: bool(value) for field, value in zip(others, flags, strict=True)}}
                state = stats.State(
                    published=bool(published),
                    read=state_of.get("read_at", False),
                    seen=state_of.get("seen_at", False),
                    archived=state_of.get("archived_at", False),
                    starred=state_of.get("starred_at", False),
                )
                groups.append((key, state, times))
                changed += times
    return changed, groups


#: The flags each Stats counter depends on (see stats.State.counters).
_COUNTER_FIELDS = (
    {"read_at", "archived_at"}, {"seen_at", "archived_at"}, {"read_at"}, {"seen_at"}, {"archived_at"}, {"starred_at"}
)


def _shares_counter(field: str, targets: Mapping[str, bool]) -> bool:
    return any(field in fields and not fields.isdisjoint(targets) for fields in _COUNTER_FIELDS)


def _is_set(connection: Any, column: str) -> str:
    if connection.vendor == "sqlite":
        # SQLite 3.40 evaluates "x IS NULL" and "x IS NOT NULL" wrongly in RETURNING (they gave
        # 0 and 1 for a NULL column): test the length of the stored text instead.
        return f"COALESCE(LENGTH({column}), 0) > 0"
    return f"{column} IS NOT NULL"


def _run(
    rows: models.QuerySet, updates: Mapping[str, Any], others: list[str], using: str
) -> list[tuple[tuple[Any, ...], int]]:
    """One UPDATE ... RETURNING (grouped in the same statement on PostgreSQL): the changed rows'
    recipient, ``is_published`` and whether each of ``others`` is set, with how many rows had each."""
    connection = dialect.connection_for(using)
    quote = connection.ops.quote_name
    query = rows.query.chain(UpdateQuery)
    assert isinstance(query, UpdateQuery)
    query.add_update_values(dict(updates))
    try:
        update_sql, params = query.get_compiler(using).as_sql()
    except EmptyResultSet:
        return []
    if not update_sql:
        return []
    returned = [quote("recipient_type_id"), quote("recipient_id"), quote("is_published"),
                *(_is_set(connection, quote(field)) for field in others)]
    names = [f"c{i}" for i in range(len(returned))]
    returning = ", ".join(f"{expression} AS {name}" for expression, name in zip(returned, names, strict=True))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The count per state travels instead of one row per notification.
            listed = ", ".join(names)
            cursor.execute(
                f"WITH changed AS ({update_sql} RETURNING {returning}) "
                f"SELECT {listed}, COUNT(*) FROM changed GROUP BY {listed}",
                params,
            )
            return [(((type_id, object_id), published, *flags), n)
                    for type_id, object_id, published, *flags, n in cursor.fetchall()]
        cursor.execute(f"{update_sql} RETURNING {returning}", params)
        counted = Counter(cursor.fetchall())
    return [(((type_id, object_id), published, *flags), n)
            for (type_id, object_id, published, *flags), n in counted.items()]
