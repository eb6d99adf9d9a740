"""The Redis broker against a real redis-server started by the tests."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from inbox.events.base import Event
from inbox.events.redis import RedisBroker
from inbox.models import Notification
from inbox.services import notifier
from tests.services import RedisServer


def wait_for(subscription, count: int = 1, timeout: float = 5.0) -> list[Event]:
    received: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        received += subscription.wait(0.05)
    return received


def test_publish_reaches_a_subscriber_in_another_broker(redis_server):
    listening = RedisBroker(url=redis_server.url, prefix="t1:")
    speaking = RedisBroker(url=redis_server.url, prefix="t1:")
    with listening.subscribe(["auth.user:1"]) as subscription:
        assert subscription.ready.wait(5)
        speaking.publish([Event(recipient="auth.user:1", new=("u1",)), Event(recipient="auth.user:2")])
        assert wait_for(subscription) == [Event(recipient="auth.user:1", new=("u1",))]


def test_publish_from_another_process(redis_server):
    broker = RedisBroker(url=redis_server.url, prefix="t2:")
    with broker.subscribe(["auth.user:7"]) as subscription:
        assert subscription.ready.wait(5)
        code = (
            "from inbox.events.redis import RedisBroker; from inbox.events.base import Event; "
            f"RedisBroker(url={redis_server.url!r}, prefix='t2:').publish([Event(recipient='auth.user:7', new=('x',))])"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        assert wait_for(subscription) == [Event(recipient="auth.user:7", new=("x",))]


def test_prefixes_keep_two_sites_apart(redis_server):
    site_a = RedisBroker(url=redis_server.url, prefix="site-a:")
    site_b = RedisBroker(url=redis_server.url, prefix="site-b:")
    with site_a.subscribe(["auth.user:1"]) as a, site_b.subscribe(["auth.user:1"]) as b:
        assert a.ready.wait(5) and b.ready.wait(5)
        site_b.publish([Event(recipient="auth.user:1")])
        assert len(wait_for(b)) == 1
        assert a.wait(0.3) == []


def test_closed_subscriptions_stop_receiving(redis_server):
    broker = RedisBroker(url=redis_server.url, prefix="t3:")
    first = broker.subscribe(["c"])
    second = broker.subscribe(["c"])
    assert first.ready.wait(5) and second.ready.wait(5)
    first.close()
    broker.publish([Event(recipient="c")])
    assert len(wait_for(second)) == 1
    assert first.drain() == []
    second.close()
    assert broker.channels() == []


def test_unreachable_redis_logs_once_and_never_raises(caplog):
    dead = RedisServer()  # a free port nobody listens on
    broker = RedisBroker(url=dead.url, prefix="t4:")
    with caplog.at_level(logging.ERROR, logger="inbox.events"):
        for _ in range(3):
            broker.publish([Event(recipient="auth.user:1")])
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1


@pytest.mark.django_db
def test_send_succeeds_while_redis_is_down(alice, settings, django_capture_on_commit_callbacks, caplog):
    from inbox import events

    settings.INBOX = {"BROKER": "inbox.events.redis.RedisBroker", "BROKER_OPTIONS": {"url": RedisServer().url}}
    events.reset_broker()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            [sent] = notifier.send("stored anyway", alice)
    finally:
        events.reset_broker()
    assert Notification.objects.get().pk == sent.pk


def test_listener_reconnects_and_streams_resync():
    server = RedisServer().start()
    try:
        broker = RedisBroker(url=server.url, prefix="t5:")
        with broker.subscribe(["auth.user:3"]) as subscription:
            assert subscription.ready.wait(5)
            server.stop()
            time.sleep(0.5)
            server.start()
            # On reconnecting, every local stream is told to re-read its badge...
            assert Event(recipient="auth.user:3") in wait_for(subscription, timeout=15)
            # ...and publishing works again.
            deadline = time.monotonic() + 10
            received: list[Event] = []
            while time.monotonic() < deadline and Event(recipient="auth.user:3", new=("after",)) not in received:
                broker.publish([Event(recipient="auth.user:3", new=("after",))])
                received += subscription.wait(0.2)
            assert Event(recipient="auth.user:3", new=("after",)) in received
    finally:
        server.stop()


def test_malformed_messages_are_ignored(redis_server):
    import redis

    broker = RedisBroker(url=redis_server.url, prefix="t6:")
    with broker.subscribe(["auth.user:1"]) as subscription:
        assert subscription.ready.wait(5)
        client = redis.Redis.from_url(redis_server.url)
        client.publish("t6:auth.user:1", "not json")
        client.publish("t6:auth.user:1", '{"recipient": "auth.user:2"}')  # names another channel
        broker.publish([Event(recipient="auth.user:1", new=("ok",))])
        assert wait_for(subscription) == [Event(recipient="auth.user:1", new=("ok",))]
