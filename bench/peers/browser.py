"""Send → the badge changing in a real Chromium page (the example site under uvicorn, Redis broker).

``send()`` runs in another process: a long-lived one (a task worker, a web process: one send per
line it reads), and then, for the ``cold`` rows, a fresh ``manage.py shell`` per send, as a cron
job would (its first publish also imports redis-py and connects). Every step is stamped with the
machine's wall clock (``time.time()`` in Python, ``Date.now()`` in the page), so the total splits
into:

- ``send → publish``: send() called → its events handed to the broker (database write, commit);
- ``publish → server``: → the event reached the server's stream (the broker's publish, Redis, the
  server's listener thread);
- ``server``: the event reached the stream → the stream handed its badge bytes to uvicorn
  (session check, counts read, rendering);
- ``to page``: those bytes → the page's SSE handler got them (socket, EventSource, htmx's SSE extension);
- ``page``: the handler → the badge element changed (our swap, the MutationObserver).

The server runs ``bench.peers.browser_trace`` (the example site, with timestamps) and the page
records its two points in the leader tab.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

SAMPLES = 50
WARMUP = 3

COLD_SAMPLES = 20
STEPS = ("send → publish", "publish → server", "server", "to page", "page")

#: Sends one notification to alice and prints the stamps as JSON; ``message`` is a format field.
SEND_ONE = (
    "stamps = {{}}; t = time.time(); notifier.send({message!r}, alice); "
    "print(json.dumps({{'called': t, 'returned': time.time(), **stamps}}), flush=True)"
)
PREAMBLE = (
    "import json, sys, time; from django.contrib.auth.models import User; from inbox import events; "
    "from inbox.services import notifier; alice = User.objects.get(username='alice'); stamps = {}; "
    "publish = events._publish\n"
    "def timed(make):\n"
    "    stamps['published'] = time.time(); publish(make)\n"
    "events._publish = timed\n"
)
#: A long-lived sender (a task worker, a web process): one send per line read from stdin.
WORKER = PREAMBLE + (
    "for line in sys.stdin:\n"
    "    stamps.clear(); t = time.time(); notifier.send(line.strip(), alice)\n"
    "    print(json.dumps({'called': t, 'returned': time.time(), **stamps}), flush=True)\n"
)


PAGE_HOOKS = """() => {
    window.__badgeChanges = []; window.__sseBadges = [];
    // Capture phase on the document: before the kit's own handler on the stream's element.
    document.addEventListener('htmx:sseBeforeMessage', (event) => {
        if (event.detail.type === 'badge') window.__sseBadges.push(Date.now());
    }, true);
    let last = document.getElementById('inbox-badge').getAttribute('aria-label');
    new MutationObserver(() => {
        const badge = document.getElementById('inbox-badge');
        const label = badge && badge.getAttribute('aria-label');
        if (label && label !== last) { last = label; window.__badgeChanges.push(Date.now()); }
    }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def nearest_rank(ordered: list[float], fraction: float) -> float:
    return ordered[max(0, math.ceil(len(ordered) * fraction) - 1)]


def first_after(lines: list[str], point: str, after: float) -> float:
    for line in lines:
        name, _, stamp = line.partition(" ")
        if name == point and float(stamp) >= after - 0.001:
            return float(stamp)
    raise RuntimeError(f"no {point!r} trace after {after}")


def measure(samples: int = SAMPLES, cold_samples: int = COLD_SAMPLES) -> dict[str, Any]:
    """``samples`` sends from a long-lived process (the headline numbers, and the breakdown), then
    ``cold_samples`` from a fresh process each (``cold``: that process's first send also imports
    and connects the broker)."""
    from playwright.sync_api import sync_playwright

    from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SITE, Site, _login, _wait_for, site_env
    from tests.services import RedisServer, free_port

    redis = RedisServer().start()
    workdir = tempfile.mkdtemp(prefix="inbox-bench-browser-")
    trace_file = os.path.join(workdir, "trace.log")
    port = free_port()
    site = Site(f"http://127.0.0.1:{port}", site_env(workdir, INBOX_REDIS_URL=redis.url), port)
    worker: subprocess.Popen | None = None
    try:
        site.manage("migrate", "--noinput", "-v0")
        site.manage("seed_demo", "--count", "20")
        site.server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.peers.browser_trace:application", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
            cwd=SITE, env={**site.env, "INBOX_TRACE_FILE": trace_file},
        )
        _wait_for(f"{site.url}/login/", site.server)
        worker = subprocess.Popen([sys.executable, "manage.py", "shell", "--no-imports", "-c", WORKER], cwd=SITE,
                                  env=site.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

        def from_worker(message: str) -> str:
            assert worker is not None and worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(message + "\n")
            worker.stdin.flush()
            return worker.stdout.readline()

        def from_fresh_process(message: str) -> str:
            return site.python(PREAMBLE + SEND_ONE.format(message=message)).splitlines()[-1]

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            _login(page, site, "alice")
            page.goto(f"{site.url}/")
            page.wait_for_function("document.documentElement.dataset.inboxLive === 'leader'", timeout=15_000)
            page.evaluate(PAGE_HOOKS)
            changes = 0

            def sample(send: Any, label: str) -> dict[str, float]:
                nonlocal changes
                time.sleep(0.7)  # a quiet spell before each send: every send is "the first" of a burst
                sent = json.loads(send(f"browser ping {label}"))
                changes += 1
                page.wait_for_function(f"window.__badgeChanges.length >= {changes}", timeout=15_000)
                changed_at = page.evaluate(f"window.__badgeChanges[{changes - 1}]") / 1000
                arrived_at = page.evaluate("window.__sseBadges[window.__sseBadges.length - 1]") / 1000
                with open(trace_file) as handle:
                    trace = handle.read().splitlines()
                delivered = first_after(trace, "delivered", sent["published"])
                yielded = first_after(trace, "yielded", delivered)
                return {
                    "total": changed_at - sent["called"],
                    "send → publish": sent["published"] - sent["called"],
                    "publish → server": delivered - sent["published"],
                    "server": yielded - delivered,
                    "to page": arrived_at - yielded,
                    "page": changed_at - arrived_at,
                }

            for i in range(WARMUP):  # the first sends warm the server (templates, caches, connections)
                sample(from_worker, f"warm-up {i}")
            rows = [sample(from_worker, str(i)) for i in range(samples)]
            cold_rows = [sample(from_fresh_process, f"cold {i}") for i in range(cold_samples)]
            browser.close()
        result = summarize(rows)
        if cold_rows:
            result["cold"] = summarize(cold_rows)
        return result
    finally:
        if worker is not None:
            worker.kill()
            worker.wait()
        site.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def summarize(rows: list[dict[str, float]]) -> dict[str, Any]:
    result: dict[str, Any] = {"samples": len(rows)}
    for key in rows[0]:
        ordered = sorted(row[key] * 1000 for row in rows)
        result[key] = {"p50_ms": round(statistics.median(ordered), 1), "p99_ms": round(nearest_rank(ordered, 0.99), 1)}
    total = result["total"]
    result["browser_p50_ms"], result["browser_p99_ms"] = total["p50_ms"], total["p99_ms"]
    result["browser_max_ms"] = round(max(row["total"] for row in rows) * 1000, 1)
    return result


def table(result: dict[str, Any]) -> str:
    lines = [f"| step ({result['samples']} sends) | p50 | p99 |", "|---|---|---|"]
    for key in ("total", *STEPS):
        lines.append(f"| {key} | {result[key]['p50_ms']} ms | {result[key]['p99_ms']} ms |")
    return "\n".join(lines)


if __name__ == "__main__":
    measured = measure(*(int(arg) for arg in sys.argv[1:3]))
    print(table(measured))
    if "cold" in measured:
        print("\nFresh process per send:")
        print(table(measured["cold"]))
    print(json.dumps(measured))
