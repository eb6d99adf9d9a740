"""The physical floor of a 10,000-row fan-out: one executemany of the same rows, nothing else.

    INBOX_BENCH_SYSTEM=ours DATABASE_URL=... python -m bench.peers.floor
"""

from __future__ import annotations

import json
import os
import time
import uuid


def measure() -> float:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.settings")
    django.setup()
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    type_id = ContentType.objects.get_for_model(User).pk
    now = timezone.now()
    columns = ("uid, recipient_type_id, recipient_id, actor_id, action_id, target_id, message, category, level, url, "
               "extra, sent_at, is_published, created_at, updated_at")
    rows = [
        (uuid.uuid4().hex if connection.vendor == "sqlite" else str(uuid.uuid4()), type_id, str(i), "", "", "",
         "Release 2.0 is out", "", 20, "", "{}", now, True, now, now)
        for i in range(10_000)
    ]
    sql = f"INSERT INTO inbox_notification ({columns}) VALUES ({', '.join(['%s'] * 15)})"
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return time.perf_counter() - started


if __name__ == "__main__":
    print(json.dumps(measure()))
