"""One contract, three brokers: what every broker must do, run against in-process, Redis and PostgreSQL.

Every broker keeps an event's recipient, its new uids and its silent notifications. ``details``
are an optimisation a broker may drop (the PostgreSQL broker does: NOTIFY carries ids, and each
stream reads its toasts from the database): the contract compares what every broker keeps, and
tests/test_postgres_broker.py checks the rest for PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from inbox.events.base import Broker, Event, Subscription
from inbox.events.inprocess import InProcessBroker

Kept = tuple[str, tuple[str, ...], tuple[dict[str, Any], ...]]


def kept(events: list[Event]) -> list[Kept]:
    """What every broker must deliver of each event."""
    return [(event.recipient, event.new, event.silent) for event in events]


def receive(subscription: Subscription, count: int = 1, timeout: float = 10.0) -> list[Event]:
    received: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        received += subscription.wait(0.05)
    return received


def ready(*subscriptions: Subscription) -> None:
    for subscription in subscriptions:
        assert subscription.ready.wait(10), "the broker never confirmed the subscription"


class BrokerContract:
    """Subclasses provide ``brokers``: (the broker streams subscribe on, the broker that publishes).
    They are one broker in-process, and two instances sharing a server for cross-process brokers."""

    @pytest.fixture
    def brokers(self) -> Iterator[tuple[Broker, Broker]]:
        raise NotImplementedError

    def test_a_publish_reaches_a_subscriber(self, brokers):
        listening, speaking = brokers
        with listening.subscribe(["auth.user:1"]) as subscription:
            ready(subscription)
            speaking.publish([Event(recipient="auth.user:1", new=("u1",)), Event(recipient="auth.user:2")])
            assert kept(receive(subscription)) == [("auth.user:1", ("u1",), ())]

    def test_other_recipients_events_do_not_arrive(self, brokers):
        listening, speaking = brokers
        with listening.subscribe(["auth.user:1"]) as subscription:
            ready(subscription)
            speaking.publish([Event(recipient="auth.user:2", new=("theirs",))])  # one, and many (packed)
            speaking.publish([Event(recipient=f"auth.user:{n}", new=(f"theirs-{n}",)) for n in range(2, 60)])
            speaking.publish([Event(recipient="auth.user:1", new=("mine",))])  # published last: arrives last
            assert kept(receive(subscription)) == [("auth.user:1", ("mine",), ())]
            assert subscription.drain() == []

    def test_a_big_publish_arrives_whole_and_in_order_per_recipient(self, brokers):
        listening, speaking = brokers
        recipients = [f"auth.user:{n}" for n in range(10)]
        subscriptions = {recipient: listening.subscribe([recipient]) for recipient in recipients}
        try:
            ready(*subscriptions.values())
            published = [Event(recipient=recipients[i % 10], new=(f"{i:04d}",)) for i in range(5000)]
            speaking.publish(iter(published))  # any iterable, consumed once
            for recipient, subscription in subscriptions.items():
                expected = [event for event in published if event.recipient == recipient]
                assert kept(receive(subscription, count=500)) == kept(expected)
        finally:
            for subscription in subscriptions.values():
                subscription.close()

    def test_closed_subscriptions_stop_receiving(self, brokers):
        listening, speaking = brokers
        first = listening.subscribe(["c"])
        second = listening.subscribe(["c"])
        ready(first, second)
        first.close()
        speaking.publish([Event(recipient="c")])
        assert kept(receive(second)) == [("c", (), ())]
        assert first.drain() == []
        second.close()
        assert listening.channels() == []  # type: ignore[attr-defined]

    def test_two_subscriptions_on_one_channel_both_receive(self, brokers):
        listening, speaking = brokers
        with listening.subscribe(["auth.user:5"]) as first, listening.subscribe(["auth.user:5", "auth.user:6"]) as second:
            ready(first, second)
            speaking.publish([Event(recipient="auth.user:5", new=("both",))])
            assert kept(receive(first)) == kept(receive(second)) == [("auth.user:5", ("both",), ())]

    def test_ready_is_set_and_a_publish_right_after_it_arrives(self, brokers):
        listening, speaking = brokers
        with listening.subscribe(["auth.user:8"]) as subscription:
            assert subscription.ready.wait(10)
            speaking.publish([Event(recipient="auth.user:8")])
            assert kept(receive(subscription)) == [("auth.user:8", (), ())]

    def test_events_for_uids_and_silent_notifications_round_trip(self, brokers):
        listening, speaking = brokers
        uids = tuple(str(uuid.uuid4()) for _ in range(3))
        silent = ({"uid": str(uuid.uuid4()), "message": "Déjà vu \U0001f600 " + "x" * 260, "level": 20,
                   "category": "", "url": "/a?b=1&c=<2>", "sent_at": "2026-01-01T00:00:00+00:00"},)
        sent = [Event(recipient="auth.user:3", new=uids), Event(recipient="auth.user:3", silent=silent)]
        with listening.subscribe(["auth.user:3"]) as subscription:
            ready(subscription)
            speaking.publish(sent)
            assert kept(receive(subscription, count=2)) == kept(sent)

    def test_details_may_be_dropped_but_never_change(self, brokers):
        listening, speaking = brokers
        uid = str(uuid.uuid4())
        details = ({"uid": uid, "message": "hi", "level": 20, "category": "", "url": "", "sent_at": "2026-01-01"},)
        with listening.subscribe(["auth.user:4"]) as subscription:
            ready(subscription)
            speaking.publish([Event(recipient="auth.user:4", new=(uid,), details=details)])
            [event] = receive(subscription)
            assert kept([event]) == [("auth.user:4", (uid,), ())]
            assert event.details in ((), details)


class CrossProcessContract(BrokerContract):
    """Brokers whose publishes reach subscribers in other processes."""

    def publisher_code(self, broker: Broker) -> str:
        """Python that builds, in a fresh process, a broker publishing to ``broker``'s subscribers, as ``speaker``."""
        raise NotImplementedError

    def test_a_publish_from_another_process_arrives(self, brokers):
        listening, _ = brokers
        with listening.subscribe(["auth.user:7"]) as subscription:
            ready(subscription)
            code = (
                f"{self.publisher_code(listening)}\n"
                "from inbox.events.base import Event\n"
                "speaker.publish([Event(recipient='auth.user:7', new=('from afar',)), Event(recipient='auth.user:9')])\n"
            )
            subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
            assert kept(receive(subscription)) == [("auth.user:7", ("from afar",), ())]

    def test_close_stops_the_listener_thread_and_a_new_subscription_starts_another(self, brokers):
        listening, speaking = brokers
        others = listener_threads()  # other tests' brokers may still listen
        with listening.subscribe(["auth.user:7"]) as subscription:
            ready(subscription)
        mine = listener_threads() - others
        assert mine
        listening.close()  # type: ignore[attr-defined]
        assert not any(thread.is_alive() for thread in mine)
        with listening.subscribe(["auth.user:7"]) as subscription:
            ready(subscription)
            speaking.publish([Event(recipient="auth.user:7", new=("again",))])
            assert kept(receive(subscription)) == [("auth.user:7", ("again",), ())]


def listener_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name.endswith("-listener") and thread.is_alive()}


class TestInProcessBroker(BrokerContract):
    @pytest.fixture
    def brokers(self) -> Iterator[tuple[Broker, Broker]]:
        broker = InProcessBroker()
        yield broker, broker


class TestRedisBroker(CrossProcessContract):
    @pytest.fixture
    def brokers(self, redis_server) -> Iterator[tuple[Broker, Broker]]:
        from inbox.events.redis import RedisBroker

        prefix = f"contract-{uuid.uuid4().hex[:8]}:"
        listening, speaking = RedisBroker(url=redis_server.url, prefix=prefix), RedisBroker(url=redis_server.url, prefix=prefix)
        yield listening, speaking
        listening.close()
        speaking.close()

    def publisher_code(self, broker: Broker) -> str:
        return (f"from inbox.events.redis import RedisBroker\n"
                f"speaker = RedisBroker(url={broker.url!r}, prefix={broker.prefix!r})")  # type: ignore[attr-defined]


@pytest.mark.postgres
class TestPostgresBroker(CrossProcessContract):
    @pytest.fixture
    def brokers(self, django_db_setup) -> Iterator[tuple[Broker, Broker]]:
        from inbox.events.postgres import PostgresBroker, conninfo_for

        # The test database's own settings; a channel per test, so no test hears another's leftovers.
        channel = f"contract_{uuid.uuid4().hex[:12]}"
        listening = PostgresBroker(conninfo=conninfo_for("default"), channel=channel)
        speaking = PostgresBroker(conninfo=conninfo_for("default"), channel=channel)
        yield listening, speaking
        listening.close()  # before the test database is dropped
        speaking.close()

    def publisher_code(self, broker: Broker) -> str:
        return (f"from inbox.events.postgres import PostgresBroker\n"
                f"speaker = PostgresBroker(conninfo={broker.conninfo!r}, channel={broker.channel!r})")  # type: ignore[attr-defined]
