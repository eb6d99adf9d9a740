"""Core benchmarks: fan-out, badge count and mark-all-read, on SQLite and PostgreSQL.

    python -m bench.core --write BENCHMARKS.md     (what `make bench` runs)

Each database runs in its own process on a fresh database; medians of several
repetitions are reported. Numbers are for comparing, not for asserting in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

FANOUT = 10_000
INBOX_SIZE = 100_000


def timed(function: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> float:
    """Median seconds of ``repeat`` runs, each after ``setup``."""
    times = []
    for _ in range(repeat):
        if setup:
            setup()
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def setup_django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()


def run_workloads() -> dict[str, Any]:
    setup_django()
    if os.environ.get("INBOX_BENCH_PART") == "live":
        from bench import live

        return live.run()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inbox import stats
    from inbox.models import Notification, Stats
    from inbox.services import manager, notifier

    if connection.vendor == "sqlite":
        path = connection.settings_dict["NAME"]
        connection.close()
        if os.path.exists(path):
            os.remove(path)
    call_command("migrate", verbosity=0)
    Notification.objects.all().delete()
    Stats.objects.all().delete()
    User.objects.all().delete()
    User.objects.bulk_create([User(username=f"user{i}") for i in range(FANOUT)])
    users = list(User.objects.order_by("pk"))
    results: dict[str, Any] = {"database": f"{connection.vendor} {'.'.join(map(str, connection.Database.sqlite_version_info)) if connection.vendor == 'sqlite' else connection.pg_version}"}

    def clear() -> None:
        manager.delete(Notification.objects.all())

    results["fanout_list_s"] = timed(lambda: notifier.send("Release {n} is out", users, extra={"n": 1}), 5, clear)
    results["fanout_queryset_s"] = timed(lambda: notifier.send("Release {n} is out", User.objects.all(), extra={"n": 1}), 5, clear)
    with CaptureQueriesContext(connection) as queries:
        notifier.send("counted", User.objects.all())
    results["fanout_queryset_queries"] = len(queries)
    clear()

    # One recipient holding INBOX_SIZE notifications: built with the queryset fan-out
    # to a helper table of "recipients" would change the shape, so insert directly.
    owner = users[0]
    batch = [Notification(recipient=owner, message=f"n{i}") for i in range(INBOX_SIZE)]
    Notification.objects.bulk_create(batch, batch_size=2000)
    manager.collect_stats([owner])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    def read_count() -> int:
        return stats.counts_for([owner]).unread

    def count_star() -> int:
        return Notification.objects.recipients([owner]).unread().active().count()

    assert read_count() == count_star() == INBOX_SIZE
    results["count_read_ms"] = timed(lambda: [read_count() for _ in range(1000)], 3) * 1000 / 1000
    results["count_star_ms"] = timed(count_star, 5) * 1000
    with CaptureQueriesContext(connection) as queries:
        read_count()
    results["count_read_queries"] = len(queries)

    def stats_first() -> Any:
        return Stats.objects.recipients([owner]).first()

    # The read django-notifications-style code does (seed 000), against the badge's fixed statement.
    assert stats_first().unread == INBOX_SIZE
    results["stats_first_ms"] = timed(lambda: [stats_first() for _ in range(1000)], 3) * 1000 / 1000
    results["stats_first_ratio"] = results["stats_first_ms"] / results["count_read_ms"]
    with CaptureQueriesContext(connection) as queries:
        stats_first()
    results["stats_first_queries"] = len(queries)

    results["mark_all_read_s"] = timed(
        lambda: manager.mark_all_read(owner), 3, lambda: manager.mark_unread(Notification.objects.recipients([owner]))
    )
    assert Stats.objects.recipients([owner]).get().unread == 0

    from bench import pages

    results.update(pages.run())
    return results


def run_in_subprocess(env: dict[str, str]) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.core", "--workloads"], env={**os.environ, **env}, check=True,
        capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


ROWS = [
    ("fanout_list_s", "send() to 10,000 recipients (list), incl. Stats", "s", 0.35),
    ("fanout_queryset_s", "send() to 10,000 recipients (QuerySet, INSERT … SELECT), incl. Stats", "s", 0.35),
    ("fanout_queryset_queries", "queries for that send", "", None),
    ("count_read_ms", "unread count of a recipient holding 100,000 (Stats, one read)", "ms", 0.3),
    ("count_read_queries", "queries for that read", "", 1),
    ("stats_first_ms", "`Stats.objects.recipients([user]).first()` of that recipient (the seed's read)", "ms", None),
    ("stats_first_ratio", "that read ÷ the unread count's read (`counts_for`)", "×", 3),
    ("stats_first_queries", "queries for that read", "", 1),
    ("count_star_ms", "for comparison: the same count with COUNT(*) (indexed)", "ms", None),
    ("mark_all_read_s", "mark_all_read of 100,000, incl. Stats", "s", 1.5),
]


def table(title: str, rows: list[tuple[str, str, str, Any]], results: dict[str, dict[str, Any]]) -> list[str]:
    names = list(results)
    lines = [
        f"## {title}",
        "",
        "| workload | " + " | ".join(names) + " | target |",
        "|---|" + "---|" * len(names) + "---|",
    ]
    for key, label, unit, target in rows:
        cells = []
        for name in names:
            value = results[name][key]
            cells.append(f"{value:.3f} {unit}".strip() if isinstance(value, float) else f"{value}")
        if target is None:
            target_text = ""
        elif unit:
            target_text = f"< {target} {unit}"
        else:
            target_text = f"≤ {target}" if target > 1 else f"= {target}"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target_text} |")
    return [*lines, ""]


def report(results: dict[str, dict[str, Any]], live_results: dict[str, Any]) -> str:
    from bench import live, pages

    names = list(results)
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{', '.join(results[name]['database'] for name in names)}. Medians of repeated runs.",
        "Reproduce: `make bench-core` (`python -m bench.core --write BENCHMARKS.md`).",
        "",
        *table("Core", ROWS, results),
        *table(
            f"Inbox pages: a recipient with {pages.OWNER_ROWS:,} notifications in a {pages.TABLE_ROWS:,}-row table "
            "(Django test client, full middleware and templates)",
            pages.ROWS,
            results,
        ),
        *table(
            "Live updates: one uvicorn worker, Redis broker, SQLite; clients are raw sockets on loopback",
            live.ROWS,
            {"measured": live_results},
        ),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workloads", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--write", metavar="FILE", help="Write the report (replacing its core section).")
    args = parser.parse_args()
    if args.workloads:
        print(json.dumps(run_workloads()))
        return 0
    from tests.services import postgres

    results = {"SQLite": run_in_subprocess({})}
    with postgres() as url:
        results["PostgreSQL"] = run_in_subprocess({"DATABASE_URL": url})
    live_results = run_in_subprocess({"INBOX_BENCH_PART": "live"})
    text = report(results, live_results)
    print(text)
    if args.write:
        from bench.report import replace_section

        replace_section(args.write, "core", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
