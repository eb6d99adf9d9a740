"""Channels: what e-mail delivery adds to one send() to 10,000 users, and how fast one worker drains it.

    python -m bench.channels --write BENCHMARKS.md     (what `make bench-channels` runs)

On SQLite, in one run, side by side:

1. ``notifier.send()`` to a QuerySet of 10,000 users (each with an address) with
   ``channels=("email",)`` and without, on django-tasks-db, which enqueues and delivers nothing
   inline: the time inside send() is writing the notifications, Stats, the Delivery rows and the
   tasks (one per DELIVERY_BATCH_SIZE). Median of RUNS runs, each in a fresh process on a fresh
   copy of one prepared database, the two variants alternating.
2. After each send with e-mail, one real ``manage.py db_worker --batch`` drains the queue into a
   real SMTP server (aiosmtpd, in this process, on a free 127.0.0.1 port) that counts connections
   and messages: messages per second from the enqueue (send() returning, after its commit) to the
   last message received, worker start-up included; and the SMTP connections opened.
3. django-notifs (its own virtualenv, bench/.venv-notifs/) as the peer, into the same kind of SMTP
   server with its synchronous backend (its default): ``notify()`` per user, stored, in one
   transaction, against the same loop without a channel; and its bulk path, one silent
   ``notify()`` whose context lists the addresses, sent by the provider's ``send_bulk()``.
   A failure to install or run it is recorded in the table, not hidden.

Every subprocess, SMTP server and temporary database is gone when it returns, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZE = 10_000
RUNS = 3
BATCH_SIZE = 500  # the kit's DELIVERY_BATCH_SIZE default: one task, one SMTP connection each
MESSAGE = "Maintenance tonight at 22:00."
INBOX_SETTINGS = "bench.notifs.inbox_settings"
NOTIFS_VENV = ROOT / "bench" / ".venv-notifs"
NOTIFS_REQUIREMENTS = ["django-notifs==4.0.0", "Django>=5.2,<5.3"]
CHILD_TIMEOUT_S = 300
DRAIN_TIMEOUT_S = 300


# --- a real SMTP server that counts ----------------------------------------------------------------


class Sink:
    """aiosmtpd on 127.0.0.1: counts TCP connections and messages, and when each message arrived."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import SMTP

        sink = self
        self.lock = threading.Lock()
        self.connections = 0
        self.messages = 0
        self.recipients: set[str] = set()
        self.first = self.last = 0.0

        class CountingSMTP(SMTP):
            def connection_made(self, transport: Any) -> None:
                if self.transport is None:  # a new connection, not a STARTTLS upgrade
                    with sink.lock:
                        sink.connections += 1
                super().connection_made(transport)

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                now = time.time()
                with sink.lock:
                    sink.messages += 1
                    sink.recipients.update(envelope.rcpt_tos)
                    sink.first = sink.first or now
                    sink.last = now
                return "250 Message accepted for delivery"

        class CountingController(Controller):
            def factory(self) -> SMTP:
                return CountingSMTP(self.handler, **self.SMTP_kwargs)

        self.port = free_port()
        self._controller = CountingController(Handler(), hostname="127.0.0.1", port=self.port, ready_timeout=10)

    def __enter__(self) -> Sink:
        self._controller.start()
        with self.lock:  # start() opens one connection of its own to see the server answer
            self.connections = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop(no_assert=True)

    def wait_for(self, count: int, alive: Any = lambda: True, timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Until ``count`` messages arrived; give up after ``timeout`` or 15 s without one once
        ``alive()`` (the sender) is false."""
        deadline, seen, quiet_since = time.monotonic() + timeout, -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.lock:
                messages = self.messages
            if messages >= count:
                return
            if messages != seen:
                seen, quiet_since = messages, time.monotonic()
            elif not alive() and time.monotonic() - quiet_since > 15:
                return
            time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- our kit, in child processes ---------------------------------------------------------------------


def child_prepare(size: int) -> dict[str, Any]:
    """Migrate the database of DATABASE_URL and add ``size`` users with an address."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    for start in range(0, size, 5000):
        User.objects.bulk_create([User(username=f"user{i}", email=f"user{i}@example.com")
                                  for i in range(start, min(size, start + 5000))])
    return {"users": User.objects.count()}


def child_send(with_email: bool) -> dict[str, Any]:
    """One committed send() to every user, timed; what it wrote and enqueued."""
    import gc

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django_tasks_db.models import DBTaskResult

    from inbox.models import Delivery
    from inbox.services import notifier

    channels = ("email",) if with_email else None
    User.objects.count()  # open the connection outside the timing
    gc.collect()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        sent = notifier.send(MESSAGE, User.objects.all(), url="/maintenance/", channels=channels)
        elapsed = time.perf_counter() - started
    enqueued = time.time()  # the tasks are enqueued on commit, inside send()
    return {"seconds": elapsed, "enqueued": enqueued, "queries": len(queries), "sent": len(sent),
            "deliveries": Delivery.objects.count(), "tasks": DBTaskResult.objects.count()}


def child_outcome() -> dict[str, Any]:
    """After the worker: deliveries per status, tasks per status."""
    import django

    django.setup()
    from django.db.models import Count
    from django_tasks_db.models import DBTaskResult

    from inbox.models import Delivery

    def per(queryset: Any, field: str) -> dict[str, int]:
        return {row[field]: row["n"] for row in queryset.values(field).annotate(n=Count("pk")).order_by()}

    return {"deliveries": per(Delivery.objects.all(), "status"), "tasks": per(DBTaskResult.objects.all(), "status")}


def run_child(python: str, module: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run([python, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=CHILD_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


class Ours:
    """The kit's runs: one prepared database copied fresh for every run."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.template = workdir / "inbox-template.sqlite3"
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": INBOX_SETTINGS,
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    def env_for(self, db: Path, smtp_port: int = 25) -> dict[str, str]:
        return {**self.env, "DATABASE_URL": f"sqlite:///{db}", "BENCH_SMTP_PORT": str(smtp_port)}

    def prepare(self) -> None:
        run_child(sys.executable, "bench.channels", ["--child", "prepare", "--size", str(SIZE)], self.env_for(self.template))

    def fresh(self, name: str) -> Path:
        db = self.workdir / f"{name}.sqlite3"
        shutil.copyfile(self.template, db)
        return db

    def send_only(self, run: int) -> dict[str, Any]:
        db = self.fresh(f"inbox-plain-{run}")
        try:
            row = run_child(sys.executable, "bench.channels", ["--child", "send"], self.env_for(db))
        finally:
            db.unlink(missing_ok=True)
        assert row["sent"] == SIZE and row["deliveries"] == 0 and row["tasks"] == 0, row
        return row

    def send_and_drain(self, run: int) -> dict[str, Any]:
        db = self.fresh(f"inbox-email-{run}")
        worker: subprocess.Popen[bytes] | None = None
        log = self.workdir / f"worker-{run}.log"
        try:
            with Sink() as sink:
                env = self.env_for(db, sink.port)
                row = run_child(sys.executable, "bench.channels", ["--child", "send", "--email"], env)
                assert row["sent"] == SIZE and row["deliveries"] == SIZE, row
                assert row["tasks"] == -(-SIZE // BATCH_SIZE), row
                with log.open("wb") as out:
                    worker = subprocess.Popen(
                        [sys.executable, "-m", "django", "db_worker", "--batch", "--no-startup-delay",
                         "--interval", "0", "--no-reload", "--verbosity", "0"],
                        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                    )
                    sink.wait_for(SIZE, alive=lambda: worker is not None and worker.poll() is None)
                    code = worker.wait(timeout=60)
                with sink.lock:
                    row.update(received=sink.messages, connections=sink.connections, first=sink.first,
                               last=sink.last, recipients=len(sink.recipients))
            if code != 0 or row["received"] != SIZE:
                raise RuntimeError(f"db_worker exited {code} after {row['received']} of {SIZE} messages:\n"
                                   f"{log.read_text()[-3000:]}")
            row["outcome"] = run_child(sys.executable, "bench.channels", ["--child", "outcome"], env)
            assert row["outcome"]["deliveries"] == {"sent": SIZE}, row["outcome"]
            row["per_second"] = SIZE / (row["last"] - row["enqueued"])
            row["per_second_sending"] = SIZE / (row["last"] - row["first"])
            return row
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait()
            db.unlink(missing_ok=True)
            log.unlink(missing_ok=True)


# --- django-notifs, in its own virtualenv --------------------------------------------------------------


def ensure_notifs_venv() -> tuple[str | None, str]:
    """The peer's python and what was installed, or None and exactly why not."""
    python = NOTIFS_VENV / "bin" / "python"
    marker = NOTIFS_VENV / ".installed"
    wanted = " ".join(NOTIFS_REQUIREMENTS)
    if not marker.exists() or marker.read_text() != wanted:
        base = shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", "--clear", str(NOTIFS_VENV)], check=True, capture_output=True)
        (NOTIFS_VENV / ".gitignore").write_text("*\n")  # never show up in git status
        result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                 *NOTIFS_REQUIREMENTS], capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
            return None, f"`pip install {wanted}` failed: {errors[0] if errors else last_line(result.stderr)}"
        marker.write_text(wanted)
    result = subprocess.run([str(python), "-c", "import notifications.utils, django; print(django.get_version())"],
                            capture_output=True, text=True, env={**os.environ, "DJANGO_SETTINGS_MODULE":
                                                                 "bench.notifs.peer_settings"}, cwd=ROOT)
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    versions = ", ".join(line for line in freeze.splitlines()
                         if line.lower().startswith(("django-notifs==", "django==", "pydantic==")))
    if result.returncode != 0:
        return None, f"installs ({versions}) but does not import: {last_line(result.stderr)}"
    return str(python), versions


class Peer:
    def __init__(self, workdir: Path, python: str) -> None:
        self.workdir = workdir
        self.python = python
        self.template = workdir / "notifs-template.sqlite3"
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.notifs.peer_settings", "PYTHONPATH": str(ROOT)}
        self.env.pop("DATABASE_URL", None)

    def prepare(self) -> None:
        run_child(self.python, "bench.notifs.peer", ["prepare", str(SIZE)], {**self.env, "BENCH_DB": str(self.template)})

    def run(self, variant: str, run: int) -> dict[str, Any]:
        db = self.workdir / f"notifs-{variant}-{run}.sqlite3"
        shutil.copyfile(self.template, db)
        try:
            with Sink() as sink:
                row = run_child(self.python, "bench.notifs.peer", [variant],
                                {**self.env, "BENCH_DB": str(db), "BENCH_SMTP_PORT": str(sink.port)})
                if variant != "none":
                    sink.wait_for(SIZE, alive=lambda: False, timeout=30)
                with sink.lock:
                    row.update(received=sink.messages, connections=sink.connections, first=sink.first,
                               last=sink.last, recipients=len(sink.recipients))
        finally:
            db.unlink(missing_ok=True)
        if variant != "none":
            if row["received"] != SIZE:
                raise RuntimeError(f"django-notifs {variant}: {row['received']} of {SIZE} messages arrived")
            # Synchronous: delivery starts inside notify(), so "enqueue" is the call.
            row["per_second"] = SIZE / (row["last"] - row["started"])
        return row


# --- the run ---------------------------------------------------------------------------------------


def run_all() -> dict[str, Any]:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="inbox-bench-channels-"))
    results: dict[str, Any] = {"plain": [], "email": [], "peer": {}, "peer_error": None}
    try:
        ours = Ours(workdir)
        ours.prepare()
        for run in range(RUNS):  # alternate, so drift on a shared machine hits both alike
            order = [ours.send_only, ours.send_and_drain] if run % 2 == 0 else [ours.send_and_drain, ours.send_only]
            for step in order:
                row = step(run)
                results["email" if step == ours.send_and_drain else "plain"].append(row)
                print(f"  ours {'email' if 'received' in row else 'plain'} run {run}: {row['seconds']:.3f} s"
                      + (f", {row['per_second']:.0f} msgs/s, {row['connections']} connections" if "received" in row
                         else ""), file=sys.stderr)
        python, versions = ensure_notifs_venv()
        results["peer_versions"] = versions
        if python is None:
            results["peer_error"] = versions
        else:
            peer = Peer(workdir, python)
            try:
                peer.prepare()
                for run in range(RUNS):
                    for variant in ("none", "each", "bulk"):
                        row = peer.run(variant, run)
                        results["peer"].setdefault(variant, []).append(row)
                        print(f"  django-notifs {variant} run {run}: {row['seconds']:.3f} s"
                              + (f", {row['per_second']:.0f} msgs/s, {row['connections']} connections"
                                 if "per_second" in row else ""), file=sys.stderr)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                results["peer_error"] = f"does not run: {last_line(str(error))}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["minutes"] = (time.monotonic() - started) / 60
    return results


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def spread(rows: list[dict[str, Any]]) -> str:
    times = [row["seconds"] for row in rows]
    return f"runs {min(times):.3f}–{max(times):.3f} s"


def report(results: dict[str, Any]) -> str:
    import django

    plain, email = results["plain"], results["email"]
    ours_plain, ours_email = median(plain, "seconds"), median(email, "seconds")
    connections = sorted({row["connections"] for row in email})
    lines = [
        f"## Channels: e-mail to {SIZE:,} users",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {platform.machine()} {platform.system()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, Django {django.get_version()}, SQLite; "
        f"medians of {RUNS} runs, each in a fresh process on a fresh copy of one database of {SIZE:,} users "
        f"with addresses (the whole run took {results['minutes']:.1f} min).",
        "Reproduce: `make bench-channels` (runs `python -m bench.channels --write BENCHMARKS.md`).",
        "",
        "| system | time inside send | ÷ the same without channels | end to end, msgs/s | SMTP connections |",
        "|---|---|---|---|---|",
        f"| django-htmx-inbox: `send(…, channels=(\"email\",))`, django-tasks-db, one `db_worker` "
        f"| {ours_email:.3f} s ({spread(email)}; {email[0]['queries']} q) | {ours_email / ours_plain:.2f}× (target ≤ 1.5×) "
        f"| {median(email, 'per_second'):,.0f} ({median(email, 'per_second_sending'):,.0f} once the worker sends) "
        f"| {', '.join(map(str, connections))} (one per {BATCH_SIZE}) |",
        f"| django-htmx-inbox: the same `send()` without channels | {ours_plain:.3f} s ({spread(plain)}; "
        f"{plain[0]['queries']} q) "
        "| 1× | — | — |",
    ]
    peer, error = results["peer"], results["peer_error"]
    if error:
        lines.append(f"| django-notifs | {error} | | | |")
    else:
        none, each, bulk = peer["none"], peer["each"], peer["bulk"]
        lines += [
            f"| django-notifs: `notify(recipient=user, channels=[\"email\"])` per user, synchronous backend "
            f"| {median(each, 'seconds'):.3f} s (delivery included) | {median(each, 'seconds') / median(none, 'seconds'):.1f}× "
            f"| {median(each, 'per_second'):,.0f} | {', '.join(map(str, sorted({r['connections'] for r in each})))} |",
            f"| django-notifs: the same loop without channels | {median(none, 'seconds'):.3f} s | 1× | — | — |",
            f"| django-notifs: one silent `notify()`, context `bulk=True` (`send_bulk`), stores nothing "
            f"| {median(bulk, 'seconds'):.3f} s (delivery included) | — | {median(bulk, 'per_second'):,.0f} "
            f"| {', '.join(map(str, sorted({r['connections'] for r in bulk})))} |",
        ]
    lines += [
        "",
        "Inside send() the kit writes the notifications, Stats, one `Delivery` row per recipient "
        "(INSERT … SELECT) and one django-tasks-db task per 500, and sends nothing; end to end runs from "
        "send() returning (its commit enqueued the tasks) to the last message an aiosmtpd server on loopback "
        "received, through one `manage.py db_worker --batch` started then (its ~1 s start-up included; "
        "the figure in brackets counts from the first message). Each message is multipart text + HTML from "
        "the kit's three templates.",
        f"django-notifs ({results.get('peer_versions') or 'not installed'}, own virtualenv `bench/.venv-notifs/`) "
        "ships an `email` provider but no e-mail channel: the bench's channel sends a plain-text "
        "`EmailMessage`; its default synchronous backend delivers inside `notify()`, so its time includes "
        "the SMTP work and its end to end counts from the first call. The per-user loop runs in one "
        "transaction, like our send().",
    ]
    if not error:
        lines.append(
            "The SMTP server is Python (aiosmtpd) on the same 2 cores, so it bounds every msgs/s figure: "
            f"django-notifs' bulk path, plain text over one connection, is about the ceiling "
            f"({median(peer['bulk'], 'per_second'):,.0f} msgs/s)."
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    global SIZE, RUNS
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["prepare", "send", "outcome"])
    parser.add_argument("--email", action="store_true")
    parser.add_argument("--write", metavar="BENCHMARKS.md")
    parser.add_argument("--size", type=int, default=SIZE, help="recipients (a smaller one for a quick try)")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)
    if args.child == "prepare":
        print(json.dumps(child_prepare(args.size)))
        return 0
    if args.child == "send":
        print(json.dumps(child_send(args.email)))
        return 0
    if args.child == "outcome":
        print(json.dumps(child_outcome()))
        return 0
    SIZE, RUNS = args.size, args.runs
    results = run_all()
    text = report(results)
    print(text)
    if args.write:
        from bench.report import replace_section

        replace_section(args.write, "channels", text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
