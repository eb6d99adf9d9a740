"""What preferences, mutes and grouping add to one send() to 10,000 people.

    python -m bench.preferences --write BENCHMARKS.md     (what `make bench-preferences` runs)

On SQLite and on a throwaway PostgreSQL, in one run, side by side, ``notifier.send()`` to a
QuerySet of 10,000 users with ``channels=("email",)``:

1. **plain**: nobody has a preference (the read finds nothing);
2. **preferences**: a third of the people have turned comment e-mails off, a tenth take a daily
   digest, and the send has a target, so mutes are read too (a hundredth muted the thread);
3. **grouped, new**: as 2, with a ``group_key`` nobody has an open group for (every row is new);
4. **grouped, folded**: as 3, but everybody already has an open group with the key, so every
   recipient's row absorbs the notification instead of a new one.

Each variant runs RUNS times, alternating, each inside a transaction that is rolled back, so
every run starts from the same rows (tasks are never enqueued: nothing commits). The report gives
medians, the ratio to *plain*, and the queries each send made.
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

SIZE = 10_000
RUNS = 5
TARGET_OVERHEAD = 1.3


class Rollback(Exception):
    pass


def run_workloads() -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from inbox.models import DigestSchedule, Frequency, Mute, Notification, Preference, Stats
    from inbox.services import notifier

    settings.INBOX = {**settings.INBOX, "PROVIDERS": {"email": {}}, "SITE_URL": "https://example.com"}
    if connection.vendor == "sqlite":
        path = connection.settings_dict["NAME"]
        connection.close()
        if os.path.exists(path):
            os.remove(path)
    call_command("migrate", verbosity=0)
    for model in (Notification, Stats, Preference, DigestSchedule, Mute):
        model.objects.all().delete()
    User.objects.all().delete()
    User.objects.bulk_create([User(username=f"user{i}", email=f"user{i}@example.com") for i in range(SIZE)])
    users = list(User.objects.order_by("pk"))
    project = users[0]
    target_key = f"target:{_type_id(User)}:{project.pk}"

    def user_key(user: User) -> dict[str, Any]:
        return {"recipient_type_id": _type_id(User), "recipient_id": str(user.pk)}

    def send(group_key: str | None = None, *, category: str = "comments") -> Any:
        return notifier.send("{actor} commented on {target}", User.objects.all(), actor=users[1], target=project,
                             category=category, channels=("email",), group_key=group_key)

    def measure(prepare: Callable[[], None], work: Callable[[], Any]) -> tuple[float, int]:
        """Seconds and queries of ``work`` after ``prepare``, both rolled back."""
        try:
            with transaction.atomic():
                prepare()
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    work()
                    elapsed = time.perf_counter() - started
                raise Rollback
        except Rollback:
            pass
        return elapsed, len(queries)

    def nothing() -> None:
        pass

    def preferences() -> None:
        Preference.objects.bulk_create(
            [Preference(**user_key(u), category="comments", channel="email", enabled=False) for u in users[::3]]
        )
        DigestSchedule.objects.bulk_create(
            [DigestSchedule(**user_key(u), channel="email", frequency=Frequency.DAILY) for u in users[1::10]]
        )
        Mute.objects.bulk_create([Mute(**user_key(u), thread=target_key) for u in users[2::100]])

    def open_groups() -> None:
        preferences()
        send("apollo")  # everybody now has an unread row with the key

    variants: dict[str, tuple[Callable[[], None], Callable[[], Any]]] = {
        "plain": (nothing, send),
        "preferences": (preferences, send),
        "grouped_new": (preferences, lambda: send("apollo")),
        "grouped_folded": (open_groups, lambda: send("apollo")),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    queries: dict[str, int] = {}
    measure(nothing, send)  # warm-up: caches, prepared statements
    for _ in range(RUNS):
        for name, (prepare, work) in variants.items():
            elapsed, count = measure(prepare, work)
            times[name].append(elapsed)
            queries[name] = count
    version = (
        f"SQLite {'.'.join(map(str, connection.Database.sqlite_version_info))}" if connection.vendor == "sqlite"
        else f"PostgreSQL {connection.pg_version // 10000}"
    )
    return {
        "database": version,
        **{f"{name}_s": statistics.median(values) for name, values in times.items()},
        **{f"{name}_queries": count for name, count in queries.items()},
    }


def _type_id(model: Any) -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(model).pk


def run_in_subprocess(env: dict[str, str]) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.preferences", "--workloads"], env={**os.environ, **env}, check=True,
        capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


LABELS = {
    "plain": "send() to 10,000 with e-mail, nobody has preferences",
    "preferences": "… a third turned comment e-mails off, a tenth take a digest, a hundredth muted the thread",
    "grouped_new": "… and with a group_key nobody has open (every row new)",
    "grouped_folded": "… and with a group_key everybody has open (every row folds into its group)",
}


def report(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{', '.join(results[name]['database'] for name in names)}. Medians of {RUNS} runs, alternating, each rolled back.",
        "Reproduce: `make bench-preferences` (`python -m bench.preferences --write BENCHMARKS.md`).",
        "",
        f"## Preferences, mutes and groups: send() to {SIZE:,}",
        "",
        "| send | " + " | ".join(f"{name} time | × plain | queries" for name in names) + " |",
        "|---|" + "---:|---:|---:|" * len(names),
    ]
    for key, label in LABELS.items():
        cells = []
        for name in names:
            value, plain = results[name][f"{key}_s"], results[name]["plain_s"]
            cells += [f"{value * 1000:.0f} ms", f"{value / plain:.2f}", str(results[name][f"{key}_queries"])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    def verdict(key: str) -> str:
        worst = max(results[name][f"{key}_s"] / results[name]["plain_s"] for name in names)
        return f"{worst:.2f}× ({'met' if worst <= TARGET_OVERHEAD else 'missed'})"

    lines += [
        "",
        f"Target: within {TARGET_OVERHEAD}× of *plain*. Worst of the two databases: preferences and mutes "
        f"{verdict('preferences')}; a grouped send that opens new groups {verdict('grouped_new')}; one that folds "
        f"into everybody's open group {verdict('grouped_folded')}.",
        "",
        "- The preferences, schedules and mutes of all 10,000 people are one query each (PostgreSQL reads them by "
        "`recipient_id = ANY(array)`: a JSON join there took 2.7 s whenever statistics were stale). Mutes are left "
        "out by key up to 5,000 muters, by `NOT EXISTS` past that (on every page of the insert it cost 1.8×).",
        "- A new group keeps the INSERT ... SELECT: one probe of the group index (led by the key) finds nobody "
        "has the group open. Before, a grouped send went through Python's row path: 1.6× on SQLite, 6× on "
        "PostgreSQL (the anti-join it used then was planned on stale statistics).",
        "- A folded send is different work, not overhead on the same work: for each person it UPDATEs the open "
        "row (message, actor, time, counts) and INSERTs the new item into `GroupedItem`, plus, the first time a "
        "group folds, a copy of its first notification, where a plain send INSERTs one row. Its statements stay "
        "constant per 1,000 recipients (33 here); what remains is the database writing about three rows per "
        "person instead of one. Folding into the open row in place without keeping the items would meet the "
        "target but lose \"opening it lists each item\", which the issue asks for.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workloads", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--write", metavar="FILE", help="Write the report (replacing its preferences section).")
    args = parser.parse_args()
    if args.workloads:
        print(json.dumps(run_workloads()))
        return 0
    from tests.services import postgres

    results = {"SQLite": run_in_subprocess({})}
    with postgres() as url:
        results["PostgreSQL"] = run_in_subprocess({"DATABASE_URL": url})
    text = report(results)
    print(text)
    if args.write:
        from bench.report import replace_section

        replace_section(args.write, "preferences", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
