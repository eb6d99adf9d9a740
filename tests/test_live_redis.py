"""Issue 8, defects 4 and 12, against a real redis-server: two sites on one Redis stay apart,
events carry bounded previews and big fan-outs travel packed, and an outage costs a send nothing."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.contrib.auth.models import User

from inbox import events
from inbox.events import signing
from inbox.events.base import Event
from inbox.events.inprocess import InProcessBroker
from inbox.events.redis import RedisBroker
from inbox.services import notifier
from tests.services import RedisServer
from tests.test_redis_broker import wait_for


class Tap:
    """A raw subscriber on every channel of a prefix: what actually crosses Redis."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.prefix = prefix
        self.pubsub.psubscribe(prefix + "*")
        while self.pubsub.get_message(timeout=0.05) is None and not self.pubsub.subscribed:
            pass

    def collect(self) -> list[bytes]:
        """Everything published so far (a marker published last tells when it is all in)."""
        marker = uuid.uuid4().hex.encode()
        self.client.publish(self.prefix + "__tap__", marker)
        received: list[bytes] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.5)
            if message is None:
                continue
            if message["data"] == marker:
                return received
            received.append(message["data"])
        raise AssertionError("the marker never arrived")

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


@pytest.fixture
def roomy_messages(settings):
    settings.INBOX = {**settings.INBOX, "MAX_MESSAGE_LENGTH": 2_000_000}


# -- defect 4a: a prefix of this deployment's own ----------------------------------------------------


def test_the_default_prefix_is_unique_per_deployment(redis_server, settings):
    settings.SECRET_KEY = "site-a"
    site_a = RedisBroker(url=redis_server.url)
    settings.SECRET_KEY = "site-b"
    site_b = RedisBroker(url=redis_server.url)
    again_b = RedisBroker(url=redis_server.url)
    assert site_a.prefix != site_b.prefix and site_b.prefix == again_b.prefix
    assert site_a.prefix.startswith("inbox:") and "site" not in site_a.prefix  # derived, not the key
    assert RedisBroker(url=redis_server.url, prefix="mine:").prefix == "mine:"


# -- defect 4b: events are signed with SECRET_KEY -------------------------------------------------------


def test_another_sites_events_on_the_same_prefix_are_dropped_and_logged_once(redis_server, caplog):
    """Two sites that even picked the same prefix: the other site's toasts never reach our streams."""
    ours = RedisBroker(url=redis_server.url, prefix="shared:")
    with ours.subscribe(["auth.user:42"]) as subscription, caplog.at_level(logging.ERROR, logger="inbox.events"):
        assert subscription.ready.wait(5)
        code = (
            "import django; from django.conf import settings; settings.configure(SECRET_KEY='site-b'); "
            "from inbox.events.redis import RedisBroker; from inbox.events.base import Event; "
            f"b = RedisBroker(url={redis_server.url!r}, prefix='shared:'); "
            "b.publish([Event(recipient='auth.user:42', new=('u',), details=({'uid': 'u', 'message': 'site B secret'},))]); "
            "b.publish([Event(recipient='auth.user:42', new=(str(i),)) for i in range(50)])"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        forged = redis.Redis.from_url(redis_server.url)
        forged.publish("shared:auth.user:42", b'{"recipient": "auth.user:42", "new": ["forged"]}')
        forged.publish("shared:auth.user:42", b"0" * 64 + b'.{"recipient": "auth.user:42"}')
        ours.publish([Event(recipient="auth.user:42", new=("ours",))])
        assert wait_for(subscription) == [Event(recipient="auth.user:42", new=("ours",))]
        assert subscription.wait(0.3) == []
    assert len([r for r in caplog.records if "signature" in r.getMessage()]) == 1


def test_messages_signed_with_a_fallback_key_still_verify(redis_server, settings):
    body = b'{"recipient":"auth.user:1"}'
    settings.SECRET_KEY = "old"
    signed = signing.sign(body)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new", ["old"]
    assert signing.unsign(signed) == body
    settings.SECRET_KEY_FALLBACKS = []
    assert signing.unsign(signed) is None


# -- defect 4c: ids and a bounded preview, never whole messages ----------------------------------------


@pytest.mark.django_db
def test_a_huge_message_crosses_redis_as_a_short_preview(alice, redis_broker, roomy_messages,
                                                         django_capture_on_commit_callbacks):
    tap = Tap(redis_broker.url, redis_broker.prefix)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            notifier.send("x" * 1_000_000, alice)
        crossed = tap.collect()
    finally:
        tap.close()
    assert len(crossed) == 1 and len(crossed[0]) < 2_000  # not 1 MB
    assert b"x" * 279 + b'\\u2026"' in crossed[0]  # JSON spells the ellipsis so


@pytest.mark.django_db
def test_describe_cuts_the_message_to_the_preview_length(alice, settings):
    settings.INBOX = {"EVENT_PREVIEW_LENGTH": 10, "MAX_MESSAGE_LENGTH": 100}
    [sent] = list(notifier.send("0123456789abc", alice))
    assert events.describe(sent)["message"] == "012345678\u2026"
    [short] = list(notifier.send("0123456789", alice))
    assert events.describe(short)["message"] == "0123456789"


@pytest.mark.django_db
def test_a_broadcast_crosses_redis_in_a_few_packed_messages(redis_broker, roomy_messages,
                                                            django_capture_on_commit_callbacks):
    """A 100 KB broadcast to 200 users used to push 20 MB through Redis, one PUBLISH per user."""
    User.objects.bulk_create([User(username=f"user{i}") for i in range(200)])
    listening = RedisBroker(**redis_broker.options)  # another server process, with two of them connected
    some = list(User.objects.order_by("pk")[:2])
    tap = Tap(redis_broker.url, redis_broker.prefix)
    try:
        with listening.subscribe([f"auth.user:{user.pk}" for user in some]) as subscription:
            assert subscription.ready.wait(5)
            with django_capture_on_commit_callbacks(execute=True):
                notifier.send("y" * 100_000, User.objects.all())
            crossed = tap.collect()
            received = wait_for(subscription, count=2)
    finally:
        tap.close()
    assert len(crossed) <= 2 and sum(map(len, crossed)) < 40_000, [len(c) for c in crossed]
    assert sorted(event.recipient for event in received) == sorted(f"auth.user:{user.pk}" for user in some)
    for event in received:
        [detail] = event.details
        assert event.new == (detail["uid"],) and detail["message"].endswith("\u2026")
        assert len(detail["message"]) == 280


# -- defect 4d: big fan-outs are lazy and flat in memory ------------------------------------------------


def many_events(count: int) -> Iterator[Event]:
    detail = {"message": "z" * 280, "level": 20, "category": "", "url": "", "sent_at": "2026-01-01T00:00:00"}
    for i in range(count):
        uid = f"{i:032x}"
        yield Event(recipient=f"auth.user:{i}", new=(uid,), details=({**detail, "uid": uid},))


def peak_memory_publishing(broker: events.Broker, count: int) -> int:
    tracemalloc.start()
    try:
        broker.publish(many_events(count))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["in-process", "redis"])
def test_publishing_200000_events_keeps_memory_flat(redis_server, kind):
    if kind == "redis":
        broker: events.Broker = RedisBroker(url=redis_server.url, prefix=f"flat-{uuid.uuid4().hex[:6]}:")
    else:
        broker = InProcessBroker()
    with broker.subscribe(["auth.user:199999"]) as subscription:
        assert subscription.ready.wait(5)
        small = peak_memory_publishing(broker, 2_000)
        big = peak_memory_publishing(broker, 200_000)
        received = wait_for(subscription, count=2)
    # 200,000 events held at once take well over 100 MB; chunks of a thousand take about one MB.
    assert big < 3 * small + 1_000_000 and big < 8_000_000, (small, big)
    assert [event.new for event in received] == [(f"{199_999:032x}",)]


@pytest.mark.django_db(transaction=True)
def test_publish_on_commit_takes_a_callable_called_once_after_commit(broker):
    from django.db import transaction

    calls: list[str] = []

    def make() -> Iterator[Event]:
        calls.append("called")
        yield from (Event(recipient="auth.user:1", new=(str(i),)) for i in range(3))

    with broker.subscribe(["auth.user:1"]) as subscription:
        with transaction.atomic():
            events.publish_on_commit(make)
            assert calls == []  # not before commit
        assert calls == ["called"] and len(subscription.drain()) == 3
        try:
            with transaction.atomic():
                events.publish_on_commit(make)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        assert calls == ["called"] and subscription.drain() == []


# -- defect 12: a circuit breaker -------------------------------------------------------------------


def test_an_outage_costs_publishing_nothing_until_redis_returns(caplog):
    server = RedisServer().start()
    try:
        broker = RedisBroker(url=server.url, prefix="cb:", cooldown=0.1)
        pool = broker._client.connection_pool
        attempts: list[int] = []
        real_get_connection = pool.get_connection

        def counting_get_connection(*args, **kwargs):
            attempts.append(1)
            return real_get_connection(*args, **kwargs)

        pool.get_connection = counting_get_connection  # a spy: the real pool still connects
        with broker.subscribe(["auth.user:1"]) as subscription, caplog.at_level(logging.WARNING, "inbox.events"):
            assert subscription.ready.wait(5)
            broker.publish([Event(recipient="auth.user:1", new=("before",))])
            assert wait_for(subscription) == [Event(recipient="auth.user:1", new=("before",))]

            server.stop()
            broker.publish([Event(recipient="auth.user:1")])  # this one finds out
            assert not broker.circuit.closed
            tried = len(attempts)
            for _ in range(50):
                broker.publish([Event(recipient="auth.user:1")])
            assert len(attempts) == tried  # open circuit: no connection attempt, no timeout to wait out

            server.start()
            deadline = time.monotonic() + 15
            while not broker.circuit.closed and time.monotonic() < deadline:
                time.sleep(0.05)  # the background probe closes it
            assert broker.circuit.closed
            received: list[Event] = []
            while time.monotonic() < deadline and Event(recipient="auth.user:1", new=("after",)) not in received:
                broker.publish([Event(recipient="auth.user:1", new=("after",))])
                received += subscription.wait(0.2)
            assert Event(recipient="auth.user:1", new=("after",)) in received
        messages = [r.getMessage() for r in caplog.records if r.name == "inbox.events"]
        assert len([m for m in messages if "unreachable" in m]) == 1
        assert len([m for m in messages if "reachable again" in m]) == 1
        broker.circuit.stop()
    finally:
        server.stop()
