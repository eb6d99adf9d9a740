"""The physical floor of a 10,000-row fan-out: the same rows written raw, nothing else.

    INBOX_BENCH_SYSTEM=ours DATABASE_URL=... python -m bench.peers.floor

Three ways, each timed on its own empty table in one transaction: ``executemany`` of one-row
INSERTs, multi-row ``INSERT ... VALUES`` (as many rows per statement as the parameter limit
allows), and on PostgreSQL ``COPY ... FROM STDIN`` (psycopg 3 ``cursor.copy()``). Prints a JSON
object of seconds per way; the runner takes the fastest as the floor.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

ROWS = 10_000
COLUMNS = ("uid", "recipient_type_id", "recipient_id", "actor_id", "action_id", "target_id", "message", "category",
           "level", "url", "extra", "sent_at", "is_published", "created_at", "updated_at")
#: Rows per multi-row INSERT: 15 parameters a row, under SQLite's default limit of 32,766.
MULTIROW_CHUNK = 2_000


def measure() -> dict[str, float]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.settings")
    django.setup()
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    type_id = ContentType.objects.get_for_model(User).pk
    now = timezone.now()
    rows = [
        (uuid.uuid4().hex if connection.vendor == "sqlite" else str(uuid.uuid4()), type_id, str(i), "", "", "",
         "Release 2.0 is out", "", 20, "", "{}", now, True, now, now)
        for i in range(ROWS)
    ]
    ways: dict[str, Callable[[Any, list[tuple[Any, ...]]], None]] = {
        "executemany": _executemany, "multirow": _multirow,
    }
    if connection.vendor == "postgresql":
        ways["copy"] = _copy
    results = {}
    for name, way in ways.items():
        _empty(connection)
        results[name] = _timed(connection, way, rows)
    _empty(connection)
    return results


def _timed(connection: Any, way: Callable[[Any, list[tuple[Any, ...]]], None], rows: list[tuple[Any, ...]]) -> float:
    from django.db import transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        way(cursor, rows)
    return time.perf_counter() - started


def _empty(connection: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM inbox_notification")


def _executemany(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    cursor.executemany(f"INSERT INTO inbox_notification ({', '.join(COLUMNS)}) VALUES "
                       f"({', '.join(['%s'] * len(COLUMNS))})", rows)


def _multirow(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    one = f"({', '.join(['%s'] * len(COLUMNS))})"
    for start in range(0, len(rows), MULTIROW_CHUNK):
        chunk = rows[start : start + MULTIROW_CHUNK]
        cursor.execute(f"INSERT INTO inbox_notification ({', '.join(COLUMNS)}) VALUES {', '.join([one] * len(chunk))}",
                       [value for row in chunk for value in row])


def _copy(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    # Django's cursor wrapper hands psycopg's own cursor through .cursor.
    with cursor.cursor.copy(f"COPY inbox_notification ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


if __name__ == "__main__":
    print(json.dumps(measure()))
