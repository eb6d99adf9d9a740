"""Inbox page benchmarks: server time and queries for a recipient holding 100,000 notifications
in a 1,000,000-row table. Run through bench.core (``make bench``)."""

from __future__ import annotations

import statistics
import time
from typing import Any

TABLE_ROWS = 1_000_000
OWNER_ROWS = 100_000
OTHER_USERS = 900
REPEAT = 15


def fill(connection: Any, owner_id: int, first_other_id: int, type_id: int) -> None:
    """Rows made by the database itself: Python objects for a million rows would take minutes."""
    table = "inbox_notification"
    columns = ("uid, recipient_type_id, recipient_id, actor_type_id, actor_id, action_id, target_id, message, "
               "category, level, url, extra, sent_at, is_published, created_at, updated_at, read_at, "
               "seen_at")
    categories = "CASE i % 4 WHEN 0 THEN 'deploys' WHEN 1 THEN 'comments' WHEN 2 THEN 'billing' ELSE 'mentions' END"
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            when = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || i || ' seconds')"
            read = f"CASE WHEN i % 3 = 0 THEN NULL ELSE {when} END"
            recipient = f"CASE WHEN i <= {OWNER_ROWS} THEN '{owner_id}' ELSE CAST({first_other_id} + i % {OTHER_USERS} AS TEXT) END"
            cursor.execute(
                f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {TABLE_ROWS}) "
                f"INSERT INTO {table} ({columns}) SELECT lower(hex(randomblob(16))), {type_id}, {recipient}, NULL, '', "
                f"'', '', 'Notification number ' || i, {categories}, 20, '', '{{}}', {when}, 1, {when}, {when}, "
                f"{read}, {read} FROM n"
            )
        else:
            when = "now() - i * interval '1 second'"
            read = f"CASE WHEN i % 3 = 0 THEN NULL ELSE {when} END"
            recipient = f"CASE WHEN i <= {OWNER_ROWS} THEN '{owner_id}' ELSE ({first_other_id} + i % {OTHER_USERS})::text END"
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT gen_random_uuid(), {type_id}, {recipient}, NULL, '', '', '', "
                f"'Notification number ' || i, {categories}, 20, '', '{{}}', {when}, true, {when}, {when}, "
                f"{read}, {read} FROM generate_series(1, {TABLE_ROWS}) AS i"
            )
            cursor.execute("ANALYZE")


def run() -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from inbox.models import Notification, Stats
    from inbox.services import manager

    Notification.objects.all().delete()
    Stats.objects.all().delete()
    User.objects.all().delete()
    owner = User.objects.create(username="owner")
    User.objects.bulk_create([User(username=f"other{i}") for i in range(OTHER_USERS)])
    first_other = User.objects.exclude(pk=owner.pk).order_by("pk").first().pk
    started = time.perf_counter()
    fill(connection, owner.pk, first_other, ContentType.objects.get_for_model(User).pk)
    manager.collect_stats()
    results: dict[str, Any] = {"fill_s": time.perf_counter() - started}
    assert Stats.objects.recipients([owner]).get().total == OWNER_ROWS

    client = Client()
    client.force_login(owner)
    pages = {
        "first": "/inbox/",
        "filtered": "/inbox/?status=unread&category=deploys",
        "page200": "/inbox/?page=200",
    }
    for name, url in pages.items():
        assert client.get(url).status_code == 200, url
        times = []
        for _ in range(REPEAT):
            begin = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - begin)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        results[f"{name}_p50_ms"] = statistics.median(times) * 1000
        results[f"{name}_queries"] = len(queries)
    return results


ROWS = [
    ("first_p50_ms", "inbox page 1, p50 server time", "ms", 40),
    ("first_queries", "queries for it", "", 8),
    ("filtered_p50_ms", "unread + category filter, p50", "ms", 40),
    ("filtered_queries", "queries for it", "", 8),
    ("page200_p50_ms", "page 200 (offset 4,975), p50", "ms", 40),
    ("page200_queries", "queries for it", "", 8),
]
