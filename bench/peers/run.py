"""Our kit and the packages a user would pick instead, side by side, in one run.

    python -m bench.peers.run --write BENCHMARKS.md      (part of `make bench`)

Each peer gets a virtualenv of its own under .venv-peers/ (never the project's), with the same
Django. Every system runs the same workloads (bench/peers/workload.py) on the same database:
SQLite, and a PostgreSQL this runner starts itself. Systems alternate run by run; the table
shows medians and our-vs-peer ratios.

A shorter run, to check a change (not for BENCHMARKS.md):

    INBOX_PEERS_ONLY=ours,wc,postgresql python -m bench.peers.run --repeat 1

INBOX_PEERS_ONLY is a comma-separated list of systems (ours, community, hq, wc; ours is always
run) and/or databases (sqlite, postgresql); what it leaves out is not run, the Chromium live
measurement is skipped, and the raw numbers go to bench/results/peers-partial.json instead of
peers.json; --write is refused. Every workload still runs at its full size: sizes are what the
table compares.
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.report import replace_section

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".venv-peers"
PEERS = {
    "community": "django-notifications-community==1.12.3",
    "hq": "django-notifications-hq==1.8.3",
    # Its "drf" extra (djangorestframework, django-filter<23, wc-shortcodes) for its JSON list.
    "wc": "wc-django-notifications[drf]==0.3.3",
}
COMMON = ["Django>=5.2,<6", "psycopg[binary]>=3.1", "dj-database-url>=2.1"]
REPEAT = 3
RUN_TIMEOUT_S = 240
RAW = ROOT / "bench" / "results" / "peers.json"  # every run's numbers (git-ignored)
SYSTEMS = ["ours", "community", "hq", "wc"]
DATABASES = ["sqlite", "postgresql"]
ONLY = "INBOX_PEERS_ONLY"
NOT_SELECTED = {"skip": f"not run ({ONLY})"}


def selection() -> tuple[list[str], list[str]]:
    """The systems and databases INBOX_PEERS_ONLY keeps (all of them when it is unset)."""
    words = {word.strip() for word in os.environ.get(ONLY, "").split(",") if word.strip()}
    unknown = words - set(SYSTEMS) - set(DATABASES)
    if unknown:
        raise SystemExit(f"{ONLY}: unknown {', '.join(sorted(unknown))}; "
                         f"use any of {', '.join(SYSTEMS + DATABASES)}")
    systems = [s for s in SYSTEMS if s == "ours" or s in words] if words & set(SYSTEMS) else SYSTEMS
    databases = [d for d in DATABASES if d in words] or DATABASES
    return systems, databases


def python_for(system: str) -> str:
    if system == "ours":
        return sys.executable
    return str(VENVS / system / "bin" / "python")


def ensure_venvs(systems: list[str] | None = None) -> dict[str, str]:
    """Each peer's virtualenv, (re)installed when what it should hold changed since the last install."""
    versions = {}
    for system, requirement in PEERS.items():
        if systems is not None and system not in systems:
            continue
        venv = VENVS / system
        marker = venv / ".installed"
        wanted = " ".join([*COMMON, requirement])  # a changed extra or common pin reinstalls too
        if not marker.exists() or marker.read_text() != wanted:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *COMMON, requirement],
                           check=True)
            marker.write_text(wanted)
        versions[system] = requirement
    return versions


def run_once(system: str, database_url: str) -> dict[str, Any]:
    env = {**os.environ, "INBOX_BENCH_SYSTEM": system, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    started = time.monotonic()
    try:
        result = subprocess.run([python_for(system), "-m", "bench.peers.workload"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"load_error": f"one run took over {RUN_TIMEOUT_S} s and was stopped"}
    lines = result.stdout.strip().splitlines()
    if result.returncode or not lines:
        return {"load_error": (result.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    return {**json.loads(lines[-1]), "run_seconds": round(time.monotonic() - started, 1)}


def floor_ways(database_url: str) -> dict[str, float]:
    """Seconds to write the same 10,000 rows raw into our table, per way (bench/peers/floor.py):
    executemany, multi-row INSERT, and COPY on PostgreSQL."""
    env = {**os.environ, "INBOX_BENCH_SYSTEM": "ours", "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run([sys.executable, "-m", "bench.peers.floor"], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=True, timeout=300)
    return json.loads(result.stdout.strip().splitlines()[-1])


def median_floors(runs: list[dict[str, float]]) -> dict[str, float]:
    """The median of each way over the runs."""
    return {way: statistics.median(run[way] for run in runs) for way in runs[0]}


def floor_text(ways: dict[str, float]) -> str:
    return ", ".join(f"{FLOOR_LABELS[way]} {seconds:.3f} s" for way, seconds in ways.items())


FLOOR_LABELS = {"executemany": "`executemany`", "multirow": "multi-row `INSERT`", "copy": "`COPY`"}


def fresh_database(kind: str, pg_url: str | None, label: str) -> str:
    if kind == "sqlite":
        path = Path("/tmp") / f"inbox-peers-{label}.sqlite3"
        if path.exists():
            path.unlink()
        return f"sqlite:///{path}"
    import psycopg

    assert pg_url is not None
    name = f"peers_{label}".replace("-", "_")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return pg_url.rsplit("/", 1)[0] + "/" + name


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per key over a system's runs; keys no run reported stay absent."""
    keys = {key for run in runs for key in run}
    medians = {key: median_of(runs, key) for key in keys}
    return {key: value for key, value in medians.items() if value is not None}


def median_of(runs: list[dict[str, Any]], key: str) -> Any:
    values = [run.get(key) for run in runs]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers and len(numbers) == len(values):
        return statistics.median(numbers)
    for value in values:
        if isinstance(value, str):
            return value
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", metavar="FILE")
    parser.add_argument("--repeat", type=int, default=REPEAT)
    args = parser.parse_args()
    from tests.services import postgres

    started = time.monotonic()
    systems, databases = selection()
    limited = bool(os.environ.get(ONLY))
    if limited and args.write:
        raise SystemExit(f"{ONLY} is set: a partial run is not written to {args.write}")
    versions = ensure_venvs(systems)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    floors: dict[str, dict[str, float]] = {}
    raw: dict[str, Any] = {}
    with postgres() as pg_url:
        for kind in databases:
            runs: dict[str, list[dict[str, Any]]] = {system: [] for system in systems}
            for repetition in range(args.repeat):
                order = systems if repetition % 2 == 0 else list(reversed(systems))  # alternate run by run
                for system in order:
                    url = fresh_database(kind, pg_url, f"{system}-{repetition}")
                    runs[system].append(run_once(system, url))
            floors[kind] = median_floors(
                [floor_ways(fresh_database(kind, pg_url, f"floor-{i}")) for i in range(args.repeat)]
            )
            results[kind] = {system: aggregate(runs[system]) for system in systems}
            raw[kind] = runs
    from bench.peers import browser

    if limited:
        live = {"error": f"skipped ({ONLY} is set)"}
    else:
        try:
            live = browser.measure()
        except Exception as error:  # reported, not hidden
            live = {"error": f"{type(error).__name__}: {error}"}
    text = report(results, floors, versions, time.monotonic() - started, live, repeat=args.repeat)
    raw_file = RAW.with_name("peers-partial.json") if limited else RAW
    raw_file.parent.mkdir(exist_ok=True)
    raw_file.write_text(json.dumps({"raw": raw, "floors": floors, "live": live}, indent=1))
    print(text)
    if args.write:
        replace_section(args.write, "peers", text)
    return 0


ROWS = [
    ("fanout_1000", "fan-out: one notification to 1,000 recipients", "s", 1),
    ("fanout_10000", "fan-out: one notification to 10,000 recipients", "s", 1),
    ("fanout_10000_frozen", "the same, `gc.freeze()` after set-up (no collections of the site's heap)", "s", 1),
    ("count_10000_cold", "unread count, recipient with 10,000 (cold)", "ms", 1),
    ("count_10000_warm", "unread count, recipient with 10,000 (warm)", "ms", 1),
    ("count_100000_cold", "unread count, recipient with 100,000 (cold)", "ms", 1),
    ("count_100000_warm", "unread count, recipient with 100,000 (warm)", "ms", 1),
    ("list_10000", "first page of the unread list (25), recipient with 10,000", "ms", 1),
    ("list_100000", "first page of the unread list (25), recipient with 100,000", "ms", 1),
    ("api_list_10000", "API list, first page (25), recipient with 10,000", "ms", 1),
    ("api_list_100000", "API list, first page (25), recipient with 100,000", "ms", 1),
    ("mark_all_read_10000", "mark all read: 10,000", "s", 1),
    ("mark_all_read_100000", "mark all read: 100,000", "s", 1),
]
API_NOTES = [
    "**API list rows.** A GET of each package's own JSON list (every notification of the signed-in",
    "owner, newest first) through Django's test `Client`, first page of 25 rows, 10 times per run:",
    "ours is `inbox.contrib.drf`'s `notifications/list/`, wc's is `wcd_notifications.contrib.drf`'s",
    "`notifications/list/` (with its `[drf]` extra: DRF, django-filter, wc-shortcodes). The pagers differ:",
    "",
    "- ours pages by cursor on `(sent_at, id)` with no `COUNT(*)` (its default when a site sets no",
    "  `DEFAULT_PAGINATION_CLASS`);",
    "- wc has no pager of its own: without a setting its list returns every row in one response, so it",
    "  runs with `REST_FRAMEWORK = {\"DEFAULT_PAGINATION_CLASS\": \"rest_framework.pagination.PageNumberPagination\",",
    "  \"PAGE_SIZE\": 25}`, the setting a site must add to page it at all; `PageNumberPagination`, the",
    "  only pager its views work with, runs a `COUNT(*)` of the owner's rows on every page.",
    "- wc's inbox for these rows: its `send()` is too slow to fill 100,000 (see its `not run` rows), and",
    "  stamps every row of one call with one time, which its list sorts by first (on such an inbox the first",
    "  page sorts every row: about 0.5 s at 100,000). So at both sizes these rows get an inbox of their own,",
    "  filled by `bulk_create` of its own `Notification` rows with its UNREAD flag, sent one second apart,",
    "  bypassing `send()`. Ours is the inbox its other rows use (also `bulk_create`, then its stats recount).",
    "- community and hq have no list API: their `api/all_list/?max=N` is the polling widget's feed of the",
    "  latest N (at most 100) with no further pages, so it is not counted as one.",
    "",
]
LABELS = {"ours": "django-htmx-inbox", "community": "community 1.12", "hq": "hq 1.8.3", "wc": "wc 0.3"}


def browser_text(live: dict[str, Any]) -> str:
    if "error" in live:
        return f"not measured: {live['error']}"
    text = (f"measured in Chromium, from send() in a worker-like process to the badge changing: "
            f"{live['browser_p50_ms']:.0f} ms p50, {live['browser_p99_ms']:.0f} ms p99 ({live['samples']} sends)")
    cold = live.get("cold")
    if cold:
        text += (f"; from a fresh process per send (its first send): {cold['browser_p50_ms']:.0f} ms p50, "
                 f"{cold['browser_p99_ms']:.0f} ms p99 ({cold['samples']} sends)")
    return text


def browser_steps(live: dict[str, Any]) -> list[str]:
    """Where the send -> badge time goes, step by step (see bench.peers.browser)."""
    if "error" in live:
        return []
    from bench.peers import browser

    lines = ["", "Send → badge, step by step (target: p50 ≤ 40 ms, p99 ≤ 100 ms):", "", browser.table(live)]
    if live.get("cold"):
        lines += ["", "The same from a fresh process per send:", "", browser.table(live["cold"])]
    return lines


def cell(run: dict[str, Any], key: str, unit: str) -> str:
    if "load_error" in run:
        return "does not load"
    if "skip" in run:
        return run["skip"]
    value = run.get(key)
    if isinstance(value, str):
        return value.removeprefix("error: ")[:60]
    if value is None:
        return "—"
    queries = run.get(f"{key}_queries")
    shown = f"{value:.3f} {unit}" if unit == "s" else f"{value:.2f} {unit}"
    return f"{shown} ({queries} q)" if queries is not None else shown


def ratio(ours: Any, peer: Any) -> str:
    if isinstance(ours, (int, float)) and isinstance(peer, (int, float)) and ours > 0:
        return f"{peer / ours:.1f}×"
    return "—"


def report(results: dict[str, dict[str, dict[str, Any]]], floors: dict[str, dict[str, float]], versions: dict[str, str],
           seconds: float, live: dict[str, Any], repeat: int = REPEAT) -> str:
    import django

    lines = [
        "## Against the peers",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Django {django.get_version()} for every system; medians of {repeat} runs per system, systems alternating "
        f"run by run, each run on a fresh database. The whole comparison took {seconds / 60:.1f} min.",
        f"Peers: {', '.join(versions.values())}, each in its own virtualenv (`.venv-peers/`).",
        "Reproduce: `make bench` (or `python -m bench.peers.run --write BENCHMARKS.md`).",
        "Times are per operation; `(N q)` is the number of queries it issued. The ratio column is the best",
        "working peer's time divided by ours (above 1× means we are faster).",
        "",
    ]
    for kind, measured in results.items():
        title = "SQLite" if kind == "sqlite" else "PostgreSQL"
        by_system = {system: measured.get(system, NOT_SELECTED) for system in SYSTEMS}
        peers = [s for s in ("community", "hq", "wc")]
        lines += [f"### {title}", "", "| workload | " + " | ".join(LABELS[s] for s in ["ours", *peers])
                  + " | best peer ÷ ours |", "|---|" + "---|" * (len(peers) + 2)]
        for key, label, unit, _ in ROWS:
            ours = by_system["ours"].get(key)
            peer_values = [by_system[s].get(key) for s in peers
                           if "load_error" not in by_system[s] and "skip" not in by_system[s]]
            numeric = [v for v in peer_values if isinstance(v, (int, float))]
            best = min(numeric) if numeric else None
            cells = [cell(by_system[s], key, unit) for s in ["ours", *peers]]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio(ours, best)} |")
        fastest = min(floors[kind].values())
        ours_fanout = by_system["ours"].get("fanout_10000")
        times = f"{ours_fanout / fastest:.2f}×" if isinstance(ours_fanout, (int, float)) else "—"
        lines.append(f"| the same 10,000 rows written raw, fastest way (the floor; {floor_text(floors[kind])}) "
                     f"| {fastest:.3f} s | | | | our fan-out ÷ floor: {times} |")
        lines.append("")
        for system in ("hq", "wc", "community"):
            if "load_error" in by_system[system]:
                lines.append(f"- {LABELS[system]} does not load: `{by_system[system]['load_error']}`")
        lines.append("")
    lines += API_NOTES
    lines += [
        "### Live delivery",
        "",
        "| system | how a new notification reaches an open page | expected latency | requests per idle user |",
        "|---|---|---|---|",
        f"| django-htmx-inbox | Server-Sent Events pushed after commit (Redis across processes) | {browser_text(live)} "
        "| none while idle (a 15 s heartbeat comment on one stream per browser) |",
        "| django-notifications-hq / community | JavaScript polls `api/unread_count/` every 15 s by default | 7.5 s on "
        "average, up to 15 s | 4 per minute per tab |",
        "| wc-django-notifications | none (a REST API to poll) | whatever the site's polling | the site's polling rate |",
        *browser_steps(live),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
