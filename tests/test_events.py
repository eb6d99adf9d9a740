from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading

import pytest

from inbox import events
from inbox.events.base import Event
from inbox.models import Notification
from inbox.services import manager, notifier

pytestmark = pytest.mark.django_db


def channel(user) -> str:
    return f"auth.user:{user.pk}"


def test_send_publishes_after_commit_to_each_recipient(alice, bob, broker, django_capture_on_commit_callbacks):
    with broker.subscribe([channel(alice)]) as mine, broker.subscribe([channel(bob)]) as theirs:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            [for_alice, _] = notifier.send("hi", [alice, bob])
            assert mine.drain() == []  # nothing before commit
        for callback in callbacks:
            callback()
        [event] = mine.drain()
        assert (event.recipient, event.new) == (channel(alice), (str(for_alice.uid),))
        assert event.details[0]["message"] == "hi" and event.details[0]["uid"] == str(for_alice.uid)
        assert [event.recipient for event in theirs.drain()] == [channel(bob)]


def test_flag_changes_and_deletes_announce_the_recipient(alice, broker, django_capture_on_commit_callbacks):
    notifier.send("hi", alice)
    with broker.subscribe([channel(alice)]) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            manager.mark_all_read(alice)
        with django_capture_on_commit_callbacks(execute=True):
            manager.mark_all_read(alice)  # nothing changed: nothing announced
        with django_capture_on_commit_callbacks(execute=True):
            manager.delete(Notification.objects.all())
        assert subscription.drain() == [Event(recipient=channel(alice))] * 2


def test_broker_failure_is_logged_not_raised(alice, settings, caplog, django_capture_on_commit_callbacks):
    settings.INBOX = {"BROKER": "tests.brokers.FailingBroker"}
    with caplog.at_level(logging.ERROR, logger="inbox.events"):
        with django_capture_on_commit_callbacks(execute=True):
            notifier.send("still stored", alice)
    assert Notification.objects.get().message == "still stored"
    assert "Could not publish inbox events" in caplog.text


def test_broker_is_chosen_by_settings(settings):
    settings.INBOX = {"BROKER": "tests.brokers.FailingBroker", "BROKER_OPTIONS": {"url": "x"}}
    broker = events.get_broker()
    assert type(broker).__name__ == "FailingBroker" and broker.options == {"url": "x"}


def test_subscription_wakes_an_async_reader_from_another_thread(broker):
    async def scenario() -> Event:
        with broker.subscribe(["auth.user:1"]) as subscription:
            waiter = asyncio.ensure_future(subscription.get())
            await asyncio.sleep(0)
            publisher = threading.Thread(target=broker.publish, args=([Event(recipient="auth.user:1")],))
            publisher.start()
            event = await asyncio.wait_for(waiter, timeout=5)
            publisher.join()
            return event

    assert asyncio.run(scenario()) == Event(recipient="auth.user:1")


def test_unsubscribed_channels_get_nothing(broker):
    subscription = broker.subscribe(["auth.user:1"])
    subscription.close()
    broker.publish([Event(recipient="auth.user:1")])
    assert subscription.drain() == []


def test_subscription_keeps_the_newest_when_full(broker):
    with broker.subscribe(["c"]) as subscription:
        broker.publish([Event(recipient="c", new=(str(i),)) for i in range(1500)])
        pending = subscription.drain()
    assert len(pending) == 1000 and pending[-1].new == ("1499",)


def test_event_round_trips_as_dict():
    event = Event(recipient="auth.user:1", new=("a",), silent=({"message": "m"},), details=({"uid": "a"},))
    assert Event.from_dict(event.as_dict()) == event


def test_the_broker_module_is_imported_at_start_up_not_in_the_first_send():
    # A worker's first send() used to import redis-py (50-100 ms) before its event could leave.
    code = (
        "import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'\n"
        "from django.conf import settings\n"
        "settings.INBOX = {'BROKER': 'inbox.events.redis.RedisBroker'}\n"
        "assert 'redis' not in sys.modules\n"
        "import django; django.setup()\n"
        "print('redis' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_a_broadcast_wakes_a_waiting_event_loop_once(broker):
    # 10,000 streams on one loop used to mean 10,000 self-pipe writes from the broker's thread.
    async def main() -> tuple[list[str], list[list[Event]]]:
        subscriptions = [broker.subscribe([f"auth.user:{i}"]) for i in range(50)]
        readers = [asyncio.ensure_future(s.next_batch(5)) for s in subscriptions]
        await asyncio.sleep(0.05)  # every reader is waiting
        loop = asyncio.get_running_loop()
        wakes: list[str] = []
        original = loop.call_soon_threadsafe

        def counting(callback, *args, **kwargs):
            wakes.append(getattr(callback, "__name__", ""))
            return original(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        publisher = threading.Thread(target=broker.publish,
                                     args=([Event(recipient=f"auth.user:{i}", new=(f"u{i}",)) for i in range(50)],))
        publisher.start()
        batches = await asyncio.gather(*readers)
        publisher.join()
        for subscription in subscriptions:
            subscription.close()
        return wakes, batches

    wakes, batches = asyncio.run(main())
    assert [[event.new for event in batch] for batch in batches] == [[(f"u{i}",)] for i in range(50)]
    assert wakes == ["_wake_each"]


def test_with_nobody_listening_the_in_process_broker_builds_one_event_not_all(broker):
    # A worker's broadcast used to describe every notification for nobody: 80 ms per 10,000.
    built: list[int] = []

    def lazily():
        for i in range(1000):
            built.append(i)
            yield Event(recipient=f"auth.user:{i}")

    broker.publish(lazily())
    assert built == [0]
    with broker.subscribe(["auth.user:999"]) as subscription:
        broker.publish(lazily())
        assert [event.recipient for event in subscription.drain()] == ["auth.user:999"]
    assert len(built) == 1 + 1000
