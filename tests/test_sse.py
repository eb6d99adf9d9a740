"""The event stream: the plain view under WSGI and ASGI, and the thread-free ASGI mount."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application

from inbox import stats
from inbox.asgi import with_inbox_events
from inbox.events.base import Event
from inbox.services import notifier

EVENTS = "/inbox/events/"


@pytest.fixture(autouse=True)
def close_stream_connections():
    """Streams read through asgiref's sync thread: close its connection so the test database can be dropped."""
    yield
    from django.db import connections

    async def close() -> None:
        await sync_to_async(connections.close_all)()

    asyncio.run(close())


def events_in(chunk: bytes) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in chunk.decode().splitlines() if line.startswith("event:")]


@pytest.mark.django_db
def test_anonymous_gets_no_stream(client):
    response = client.get(EVENTS)
    assert response.status_code == 401 and not response.streaming


@pytest.mark.django_db
def test_wsgi_stream_sends_badge_first_then_changes(client, alice, broker, fast_streams, django_capture_on_commit_callbacks):
    notifier.send("waiting", alice)
    client.force_login(alice)
    response = client.get(EVENTS)
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    chunks = iter(response.streaming_content)
    opening = next(chunks)
    assert opening.startswith(b"retry: 2000\n\n") and events_in(opening) == ["badge"]
    assert b"1 unread notification" in opening
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("<b>new</b> one", alice)
    update = next(chunks)
    assert events_in(update) == ["badge", "toast", "inbox"]
    assert b"2 unread notifications" in update and b"&lt;b&gt;new&lt;/b&gt; one" in update
    assert next(chunks) == b": ping\n\n"  # heartbeat when idle
    rest = list(chunks)  # ends after SSE_WSGI_SECONDS so the browser reconnects
    assert all(chunk == b": ping\n\n" for chunk in rest)
    response.close()


@pytest.mark.django_db
def test_a_user_never_receives_another_users_events(client, alice, bob, broker, fast_streams, django_capture_on_commit_callbacks):
    client.force_login(bob)
    response = client.get(EVENTS)
    chunks = iter(response.streaming_content)
    next(chunks)
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("for alice only", alice)
    assert next(chunks) == b": ping\n\n"
    # Even a forged event naming alice's channel is not on bob's stream.
    broker.publish([Event(recipient=f"auth.user:{alice.pk}", new=("x",))])
    assert next(chunks) == b": ping\n\n"
    # End the stream here, not whenever the garbage collector gets to it: closed later, it could run
    # in its thread while the teardown closes the database connections (a crash in mysqlclient).
    response.close()


@pytest.mark.django_db
def test_toasts_only_for_the_recipients_own_notifications(alice, bob, broker):
    from inbox.sse.stream import InboxStream

    [theirs] = notifier.send("bob's private note", bob)
    # An event for alice that names bob's notification must not leak it.
    chunk = InboxStream([alice]).render_now([Event(recipient=f"auth.user:{alice.pk}", new=(str(theirs.uid),))])
    assert b"private" not in chunk and events_in(chunk) == ["badge", "inbox"]


@pytest.mark.django_db
def test_a_sustained_burst_renders_at_most_once_per_interval(client, alice, settings):
    import threading
    import time

    from inbox import events

    settings.INBOX = {**settings.INBOX, "SSE_HEARTBEAT": 5, "SSE_MIN_INTERVAL": 0.3, "SSE_WSGI_SECONDS": 1.2}
    broker = events.get_broker()  # changing INBOX replaced the broker
    client.force_login(alice)
    chunks = iter(client.get(EVENTS).streaming_content)
    next(chunks)
    channel = f"auth.user:{alice.pk}"
    stop = threading.Event()

    def flood():
        while not stop.is_set():
            broker.publish([Event(recipient=channel)])
            time.sleep(0.002)

    flooding = threading.Thread(target=flood)
    flooding.start()
    try:
        renders = [chunk for chunk in chunks if b"event: badge" in chunk]
    finally:
        stop.set()
        flooding.join()
    assert 1 <= len(renders) <= 5  # ~1.2 s of events at ~500/s, at most one render per 0.3 s


@pytest.mark.django_db
def test_toasts_come_from_the_event_without_a_query(alice, broker, django_assert_num_queries):
    from inbox.sse.stream import InboxStream

    [sent] = notifier.send("carried", alice)
    stream = InboxStream([alice])
    stream.prepare()
    event = Event(recipient="x", new=(str(sent.uid),), details=({"uid": str(sent.uid), "message": "carried",
                                                                 "level": 20, "sent_at": "now"},))
    details, bare = stream.carried([event])
    assert bare == [] and details[0]["message"] == "carried"
    with django_assert_num_queries(0):
        chunk = stream.render([event], stats.Counts(unread=1, total=1), details)
    assert b"carried" in chunk and b"1 unread notification" in chunk


@pytest.mark.django_db(transaction=True)
def test_streams_woken_together_share_one_count_query(alice, bob, carol, monkeypatch):
    from inbox.recipients import keys_of
    from inbox.sse.stream import CountsBatcher

    notifier.send("x", [alice, bob])
    keys = keys_of([alice, bob, carol])
    reads: list[set] = []
    original = stats.counts_by_key
    monkeypatch.setattr(stats, "counts_by_key", lambda wanted: reads.append(set(wanted)) or original(wanted))
    batcher = CountsBatcher()

    async def together():
        return await asyncio.gather(*[batcher.counts([key]) for key in keys], batcher.counts(keys[:2]))

    results = asyncio.run(together())
    assert [c.unread for c in results] == [1, 1, 0, 2]  # the last one sums a shared inbox
    assert reads == [set(keys)]  # one read for all four streams


@pytest.mark.django_db
def test_bursts_become_one_badge_and_few_toasts(alice, broker):
    from inbox.sse.stream import InboxStream

    sent = [notifier.send(f"n{i}", alice)[0] for i in range(6)]
    batch = [Event(recipient=f"auth.user:{alice.pk}", new=(str(n.uid),)) for n in sent]
    chunk = InboxStream([alice]).render_now(batch)
    assert events_in(chunk) == ["badge", "toast", "toast", "toast", "inbox"]
    assert b"6 unread notifications" in chunk and b"4 more new notifications" in chunk


@pytest.mark.django_db
def test_silent_notifications_and_event_data(alice, broker, settings):
    from inbox.sse.stream import InboxStream

    settings.INBOX = {**settings.INBOX, "EVENT_DATA": True}
    [stored] = notifier.send("stored", alice)
    silent = {"uid": "s", "message": "<i>psst</i>", "level": 30, "category": "", "url": "", "sent_at": "now"}
    chunk = InboxStream([alice]).render_now([Event(recipient="x", new=(str(stored.uid),), silent=(silent,))])
    assert events_in(chunk) == ["badge", "toast", "toast", "inbox", "notification"]
    assert b"&lt;i&gt;psst&lt;/i&gt;" in chunk and b"inbox-toast--warning" in chunk
    assert b'"message": "stored"' in chunk


async def collect(app, scope, *, until, publish=None, timeout=10.0) -> list[dict]:
    """Drive an ASGI app like a server would, until ``until(messages)``; then disconnect."""
    sent: list[dict] = []
    disconnect = asyncio.Event()
    first_body = asyncio.Event()

    async def receive():
        if not getattr(receive, "done", False):
            receive.done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body":
            first_body.set()
        if until(sent):
            disconnect.set()

    task = asyncio.ensure_future(app(scope, receive, send))
    if publish is not None:
        await asyncio.wait_for(first_body.wait(), timeout)
        await sync_to_async(_closing(publish), thread_sensitive=False)()
    await asyncio.wait_for(disconnect.wait(), timeout)
    await asyncio.wait_for(task, timeout)  # a disconnect must end the stream promptly
    return sent


def _closing(publish):
    """Run ``publish`` in a helper thread and close that thread's connection, so the test database can go."""

    def run():
        from django.db import connections

        try:
            publish()
        finally:
            connections.close_all()

    return run


def scope_for(client, path=EVENTS) -> dict:
    cookie = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }


def bodies(messages: list[dict]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mounted", [True, False], ids=["asgi-mount", "django-view-under-asgi"])
def test_asgi_stream(client, alice, broker, fast_streams, mounted):
    notifier.send("first", alice)
    client.force_login(alice)
    django_app = get_asgi_application()
    app = with_inbox_events(django_app) if mounted else django_app

    def publish():
        notifier.send("second", alice)  # commits at once: on_commit publishes

    messages = asyncio.run(collect(
        app, scope_for(client), publish=publish, until=lambda sent: b"event: toast" in bodies(sent)
    ))
    start = messages[0]
    headers = {name.lower(): value for name, value in start["headers"]}
    assert start["status"] == 200 and headers[b"content-type"] == b"text/event-stream"
    body = bodies(messages)
    assert body.startswith(b"retry: 2000")
    assert b"1 unread notification" in body and b"2 unread notifications" in body and b"second" in body


@pytest.mark.django_db(transaction=True)
def test_asgi_mount_refuses_anonymous_and_passes_other_paths(client):
    calls = []

    async def inner(scope, receive, send):
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = with_inbox_events(inner)
    anonymous = asyncio.run(collect(app, scope_for(client), until=lambda sent: len(sent) >= 2))
    assert anonymous[0]["status"] == 401 and b"Sign in" in anonymous[1]["body"]
    other = asyncio.run(collect(app, scope_for(client, "/elsewhere/"), until=lambda sent: len(sent) >= 2))
    assert other[0]["status"] == 204 and calls == ["/elsewhere/"]


@pytest.mark.django_db(transaction=True)
def test_asgi_mount_works_with_redis_across_brokers(client, alice, redis_broker, fast_streams):
    from inbox.events.redis import RedisBroker

    client.force_login(alice)
    other_process = RedisBroker(**redis_broker.options)

    def publish():
        notifier.send("via redis", alice)
        other_process.publish([Event(recipient=f"auth.user:{alice.pk}")])

    messages = asyncio.run(collect(
        with_inbox_events(get_asgi_application()), scope_for(client), publish=publish,
        until=lambda sent: bodies(sent).count(b"event: badge") >= 2,
    ))
    assert b"1 unread notification" in bodies(messages).split(b"event: badge")[-1]


@pytest.mark.django_db(transaction=True)
def test_asgi_mount_holds_many_streams_without_a_thread_each(client, alice, broker, settings):
    settings.INBOX = {**settings.INBOX, "SSE_HEARTBEAT": 30}
    client.force_login(alice)
    app = with_inbox_events(get_asgi_application())
    streams = 30

    async def scenario() -> tuple[int, int]:
        opened = asyncio.Semaphore(0)
        stop = asyncio.Event()

        async def one() -> None:
            started = False

            async def receive():
                nonlocal started
                if not started:
                    started = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                await stop.wait()
                return {"type": "http.disconnect"}

            async def send(message):
                if message["type"] == "http.response.body" and message.get("body"):
                    opened.release()

            await app(scope_for(client), receive, send)

        before = threading.active_count()
        tasks = [asyncio.ensure_future(one()) for _ in range(streams)]
        for _ in range(streams):
            await asyncio.wait_for(opened.acquire(), 20)
        during = threading.active_count()
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        return before, during

    before, during = asyncio.run(scenario())
    # Django's one sync thread (for the ORM) may start; nothing grows with the number of streams.
    assert during - before <= 2, (before, during)
