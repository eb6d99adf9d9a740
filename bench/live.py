"""Live-update benchmarks: latency through Redis, idle streams per worker, fan-out to many users.

One uvicorn worker serves ``bench.live_asgi`` (Django's view and the thread-free mount side by
side); clients are raw asyncio sockets in this process; the server's memory and threads are
read from /proc. Run through ``python -m bench.core`` (``make bench``).
"""

from __future__ import annotations

import asyncio
import datetime
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from typing import Any

LATENCY_SAMPLES = 100
WARMUP = 5
IDLE_COUNTS = (1000, 5000)
FANOUT_USERS = 1000
FANOUT_RUNS = 3
#: The broadcast to 10,000 idle connections on one worker (each a different user's stream).
WIDE_FANOUT_USERS = 10_000
#: What a run measures: ``INBOX_BENCH_LIVE_PARTS=latency,fanout`` runs a subset (while tuning);
#: "wide" (the 10,000-connection broadcast, about a minute) is in the default set.
PARTS = ("latency", "idle", "fanout", "wide")


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 (nearest rank) in milliseconds."""
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, math.ceil(len(ordered) * 0.99) - 1)] * 1000


def proc_status(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "Threads"):
                values[key] = int(rest.split()[0])
    return values


class Stream:
    """A minimal SSE client: one socket, reading events."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, path: str, cookie: str) -> Stream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        stream = cls(reader, writer)
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"stream refused: {status!r}")
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        await stream.until(b"event: badge")
        return stream

    async def until(self, marker: bytes) -> None:
        buffer = b""
        while marker not in buffer:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise RuntimeError("stream closed")
            buffer += chunk

    def close(self) -> None:
        self.writer.close()


def session_cookies(users: list[Any]) -> list[str]:
    """A signed-in session for each user, written in one bulk insert (10,000 take a second)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.base import VALID_KEY_CHARS
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    store = SessionStore()
    expires = timezone.now() + datetime.timedelta(days=1)
    rows = []
    for user in users:
        data = {SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash()}
        rows.append(Session(session_key=get_random_string(32, VALID_KEY_CHARS), session_data=store.encode(data),
                            expire_date=expires))
    Session.objects.bulk_create(rows, batch_size=500)
    return [f"{settings.SESSION_COOKIE_NAME}={row.session_key}" for row in rows]


def raise_open_files(wanted: int) -> None:
    """Room for ``wanted`` sockets in this process and the server it starts (which inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def start_server(port: int, env: dict[str, str]) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.live_asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--timeout-graceful-shutdown", "1", "--backlog", "8192"],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/mounted/events/", timeout=1)
        except urllib.error.HTTPError:
            return server  # 401 for an anonymous request: it is up
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("benchmark server did not start")


async def open_many(port: int, path: str, cookies: list[str], count: int) -> list[Stream]:
    semaphore = asyncio.Semaphore(200)

    async def one(i: int) -> Stream:
        async with semaphore:
            return await Stream.open(port, path, cookies[i % len(cookies)])

    return await asyncio.gather(*[one(i) for i in range(count)])


def fresh_database() -> None:
    """Start from an empty SQLite file: deleting a previous run's 11,000 users and their
    notifications would take longer than the run."""
    from django.db import connection

    if connection.vendor == "sqlite":
        path = connection.settings_dict["NAME"]
        connection.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.remove(f"{path}{suffix}")


def run() -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from inbox import events as inbox_events
    from inbox.services import notifier
    from tests.services import RedisServer, free_port

    parts = set(os.environ.get("INBOX_BENCH_LIVE_PARTS", ",".join(PARTS)).split(","))
    raise_open_files(2 * WIDE_FANOUT_USERS + 1000 if "wide" in parts else 12_000)
    fresh_database()
    call_command("migrate", verbosity=0)
    User.objects.all().delete()
    results: dict[str, Any] = {}
    redis = RedisServer().start()
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.live_settings", "INBOX_REDIS_URL": redis.url}
    server = start_server(port, env)
    os.environ["INBOX_REDIS_URL"] = redis.url
    from django.conf import settings

    settings.INBOX = {**settings.INBOX, "BROKER": "inbox.events.redis.RedisBroker",
                      "BROKER_OPTIONS": {"url": redis.url, "prefix": "bench:"}}
    # Assigning settings directly sends no setting_changed: drop a broker already built (deleting
    # the previous run's users above publishes through the default one).
    inbox_events.reset_broker()
    try:
        owner = User.objects.create(username="owner")
        [owner_cookie] = session_cookies([owner])

        # When the core hands events to the broker (after commit): where delivery starts.
        published: list[float] = []
        original_publish = inbox_events._publish

        def timed_publish(batch: Any) -> None:
            published.append(time.perf_counter())
            original_publish(batch)

        inbox_events._publish = timed_publish

        async def latency() -> tuple[list[float], list[float]]:
            stream = await Stream.open(port, "/mounted/events/", owner_cookie)
            from_send, from_publish = [], []
            for i in range(-WARMUP, LATENCY_SAMPLES):
                await asyncio.sleep(0.55)  # past the stream's render interval: each send is "the first"
                published.clear()
                started = await asyncio.to_thread(lambda i=i: (time.perf_counter(), notifier.send(f"ping {i}", owner))[0])
                await stream.until(b"event: toast")
                received = time.perf_counter()
                if i >= 0:  # the first sends warm the server (templates, caches, connections)
                    from_send.append(received - started)
                    from_publish.append(received - published[0])
            stream.close()
            return from_send, from_publish

        if "latency" in parts:
            from_send, from_publish = asyncio.run(latency())
            results["latency_p50_ms"], results["latency_p99_ms"] = percentiles(from_publish)
            results["send_latency_p50_ms"], results["send_latency_p99_ms"] = percentiles(from_send)

        for count in IDLE_COUNTS if "idle" in parts else ():
            for name, path in (("mount", "/mounted/events/"), ("view", "/inbox/events/")):
                base = proc_status(server.pid)

                async def hold(path: str = path, count: int = count, pid: int = server.pid) -> dict[str, int]:
                    streams = await open_many(port, path, [owner_cookie], count)
                    await asyncio.sleep(1)
                    status = proc_status(pid)
                    for stream in streams:
                        stream.close()
                    await asyncio.sleep(1)
                    return status

                try:
                    status = asyncio.run(hold())
                    results[f"idle_{count}_{name}_kb"] = (status["VmRSS"] - base["VmRSS"]) / count
                    results[f"idle_{count}_{name}_threads"] = status["Threads"] - base["Threads"]
                except (RuntimeError, OSError) as error:
                    results[f"idle_{count}_{name}_kb"] = f"failed: {error}"
                    results[f"idle_{count}_{name}_threads"] = "—"
                # A fresh server for each measurement: memory is not returned to the OS.
                server.terminate()
                server.wait(timeout=30)
                server = start_server(port, env)

        async def broadcast(prefix: str, cookies: list[str]) -> tuple[float, float]:
            streams = await open_many(port, "/mounted/events/", cookies, len(cookies))
            await asyncio.sleep(1)
            published.clear()
            started = await asyncio.to_thread(
                lambda: (time.perf_counter(), notifier.send("to everyone", User.objects.filter(username__startswith=prefix)))[0]
            )
            await asyncio.gather(*[stream.until(b"event: toast") for stream in streams])
            done = time.perf_counter()
            for stream in streams:
                stream.close()
            await asyncio.sleep(0.5)  # let the server close them before the next run opens more
            return done - published[0], done - started

        if "fanout" in parts:
            users = User.objects.bulk_create([User(username=f"fan{i}") for i in range(FANOUT_USERS)])
            cookies = session_cookies(users)
            # One broadcast first, unmeasured: the server's first reverse() imports the URLconf
            # (the admin, the API), which a server that has served a page has done long before.
            asyncio.run(broadcast("fan", cookies))
            runs = [asyncio.run(broadcast("fan", cookies)) for _ in range(FANOUT_RUNS)]
            results["fanout_1000_ms"] = statistics.median(run[0] for run in runs) * 1000
            results["fanout_1000_send_ms"] = statistics.median(run[1] for run in runs) * 1000

        if "wide" in parts:
            users = User.objects.bulk_create([User(username=f"wide{i}") for i in range(WIDE_FANOUT_USERS)])
            cookies = session_cookies(users)
            try:
                wide = asyncio.run(broadcast("wide", cookies))
                results["fanout_10000_ms"] = wide[0] * 1000
                results["fanout_10000_send_ms"] = wide[1] * 1000
            except (RuntimeError, OSError) as error:
                results["fanout_10000_ms"] = f"failed: {error}"
        inbox_events._publish = original_publish
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        redis.stop()
    return results


ROWS = [
    ("latency_p50_ms", "publish → received by the stream's client, p50 (Redis, loopback)", "ms", 5),
    ("latency_p99_ms", "publish → received, p99", "ms", 25),
    ("send_latency_p50_ms", "send() call → received (adds the database write and commit), p50", "ms", None),
    ("send_latency_p99_ms", "send() call → received, p99", "ms", None),
    ("idle_1000_mount_kb", "1,000 idle streams, thread-free mount: RSS per stream", "KB", 40),
    ("idle_1000_mount_threads", "threads added", "", None),
    ("idle_1000_view_kb", "1,000 idle streams, Django view: RSS per stream", "KB", None),
    ("idle_1000_view_threads", "threads added", "", None),
    ("idle_5000_mount_kb", "5,000 idle streams, thread-free mount: RSS per stream", "KB", 40),
    ("idle_5000_mount_threads", "threads added", "", None),
    ("idle_5000_view_kb", "5,000 idle streams, Django view: RSS per stream", "KB", None),
    ("idle_5000_view_threads", "threads added", "", None),
    ("fanout_1000_ms", "one event to 1,000 connected users: publish → all received (median of 3)", "ms", 200),
    ("fanout_1000_send_ms", "the same from the send() call (adds writing 1,000 rows)", "ms", None),
    ("fanout_10000_ms", "one event to 10,000 idle connections (10,000 users) on one worker: publish → all received",
     "ms", 2000),
    ("fanout_10000_send_ms", "the same from the send() call (adds writing 10,000 rows)", "ms", None),
]
