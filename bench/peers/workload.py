"""One run of every workload for one system on one database; prints JSON on its last line.

    INBOX_BENCH_SYSTEM=community DATABASE_URL=... python -m bench.peers.workload

Run by bench/peers/run.py inside the system's own virtualenv.

Inbox workloads run at each size up to the system's ``max_inbox``. The API list row
(``api_list_{size}``: the package's JSON list, first page, through the test Client as the signed-in
owner) is measured on the inbox the other rows use, before it is marked read; or, above
``max_inbox`` or when the system sets ``api_separate_inbox``, on an inbox of its own filled by the
system's ``api_fill``.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

FANOUT_SIZES = (1_000, 10_000)
#: Fan-outs also measured with gc.freeze() after set-up (see main).
FROZEN_FANOUT_SIZES = (10_000,)
INBOX_SIZES = (10_000, 100_000)
API_PAGE = 25  # rows on the API list's first page, for every system (a check, not a setting)
API_REPEAT = 10


def timed(function: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def measure(results: dict[str, Any], key: str, function: Callable[[], Any], *, repeat: int = 1, unit: float = 1.0) -> Any:
    """Time ``function`` and count its queries into results[key] / results[key + "_queries"]."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    try:
        with CaptureQueriesContext(connection) as queries:
            seconds, value = timed(function, repeat)
        results[key] = seconds * unit
        results[f"{key}_queries"] = len(queries) // repeat
        return value
    except Exception as error:  # a peer that cannot do it: say so in the table
        if "statement timeout" in str(error):
            results[key] = "error: over 60 s (statement timeout)"
        else:
            results[key] = f"error: {type(error).__name__}: {str(error)[:120]}"
        traceback.print_exc(file=sys.stderr)
        return None


def main() -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.settings")
    try:
        django.setup()
    except Exception as error:
        return {"load_error": f"{type(error).__name__}: {error}"}
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test import Client

    from bench.peers.systems import NO_EQUIVALENT

    system = settings.SYSTEM
    results: dict[str, Any] = {"database": connection.vendor}
    if system.postgres_only and connection.vendor != "postgresql":
        return {"database": connection.vendor, "skip": "PostgreSQL only"}
    try:
        call_command("migrate", verbosity=0, interactive=False)
    except Exception as error:
        return {"load_error": f"migrate: {type(error).__name__}: {error}"}
    settings.DEBUG = False
    reset_queries()
    User = get_user_model()
    actor = User.objects.create(username="actor")
    for size in FANOUT_SIZES:
        if size > system.max_fanout:
            results[f"fanout_{size}"] = f"not run: over 6 min in one measured run (see {system.max_fanout:,})"
            if size in FROZEN_FANOUT_SIZES:
                results[f"fanout_{size}_frozen"] = results[f"fanout_{size}"]
            continue
        User.objects.filter(username__startswith="fan").delete()
        User.objects.bulk_create([User(username=f"fan{i}") for i in range(size)])
        users = User.objects.filter(username__startswith="fan")
        measure(results, f"fanout_{size}", lambda users=users: system.fanout("Release 2.0 is out", users, actor))
        if size in FROZEN_FANOUT_SIZES:
            # The same send with the set-up's objects moved out of the cyclic GC's sight
            # (gc.freeze()): the gap to the row above is what collections during the send cost.
            gc.collect()
            gc.freeze()
            try:
                measure(results, f"fanout_{size}_frozen",
                        lambda users=users: system.fanout("Release 2.0 is out", users, actor))
            finally:
                gc.unfreeze()

    client = Client()
    for size in INBOX_SIZES:
        api_key = f"api_list_{size}"
        if not system.api_list_path:
            results[api_key] = NO_EQUIVALENT
        full = size <= system.max_inbox
        if not full:
            for key in ("count_{}_cold", "count_{}_warm", "list_{}", "mark_all_read_{}"):
                results[key.format(size)] = f"not run: too slow at this size (see {system.max_inbox:,})"
        else:
            owner = User.objects.create(username=f"owner{size}")
            system.fill(owner, actor, size)
            client.force_login(owner)
            _analyze(connection)
            system.forget_caches()
            count = measure(results, f"count_{size}_cold", lambda owner=owner: system.unread_count(owner), unit=1000)
            results[f"count_{size}_value"] = count
            measure(results, f"count_{size}_warm", lambda owner=owner: system.unread_count(owner), repeat=50,
                    unit=1000)
            if system.list_path:
                client.get(system.list_path)
                measure(results, f"list_{size}", lambda: _ok(client.get(system.list_path)), repeat=10, unit=1000)
            else:
                measure(results, f"list_{size}", lambda owner=owner: system.unread_page(owner), repeat=10, unit=1000)
            if system.api_list_path and not system.api_separate_inbox:
                measure_api_list(results, api_key, client, system.api_list_path)
            measure(results, f"mark_all_read_{size}", lambda owner=owner: system.mark_all_read(owner))
        if system.api_list_path and (system.api_separate_inbox or not full):
            # An inbox of its own for the API row, filled by api_fill (after the rows above, so
            # their conditions are unchanged).
            api_owner = User.objects.create(username=f"api_owner{size}")
            system.api_fill(api_owner, actor, size)
            client.force_login(api_owner)
            _analyze(connection)
            measure_api_list(results, api_key, client, system.api_list_path)
    return results


def measure_api_list(results: dict[str, Any], key: str, client: Any, path: str) -> None:
    """GET the package's JSON list as the signed-in owner, first page; checked once, then timed."""
    try:
        rows = _ok(client.get(path)).json()
        rows = rows.get("results") if isinstance(rows, dict) else rows
        if not isinstance(rows, list) or len(rows) != API_PAGE:
            raise RuntimeError(f"first page has {len(rows) if isinstance(rows, list) else rows!r} rows, "
                               f"not {API_PAGE}")
    except Exception as error:
        results[key] = f"error: {type(error).__name__}: {str(error)[:120]}"
        traceback.print_exc(file=sys.stderr)
        return
    measure(results, key, lambda: _ok(client.get(path)), repeat=API_REPEAT, unit=1000)


def _analyze(connection: Any) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _ok(response: Any) -> Any:
    if response.status_code != 200:
        raise RuntimeError(f"status {response.status_code}")
    return response


if __name__ == "__main__":
    print(json.dumps(main()))
