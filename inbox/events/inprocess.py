"""The default broker: fan-out to subscribers inside this process."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable

from inbox.events.base import Broker, Event, Subscription, chunks, deliver_all

logger = logging.getLogger("inbox.events")

#: Logged once per broker (so once per process) by a publish no stream of this process can hear.
UNSERVED_HINT = (
    "The in-process broker published inbox events in a process that has served no live stream "
    "(a management command, a shell, a task worker, or a web worker other than the one holding the "
    "browser's stream): pages open elsewhere will not update until they reload. To deliver "
    "notifications sent from other processes live, use the Redis broker: "
    'INBOX = {"BROKER": "inbox.events.redis.RedisBroker", "BROKER_OPTIONS": {"url": "redis://127.0.0.1:6379/0"}} '
    "(see docs/live.md)."
)


class InProcessBroker(Broker):
    """Delivers to subscriptions in the same process; enough for one server process.

    A publish from another process (a management command, a worker) does not reach
    these subscribers: use :class:`inbox.events.redis.RedisBroker` for that. The first publish
    from a process that has never subscribed logs :data:`UNSERVED_HINT` once, as a warning.
    """

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self._lock = threading.Lock()
        self._subscriptions: dict[str, set[Subscription]] = defaultdict(set)
        # A process that has never subscribed is not a stream server: a shell, a command, a worker.
        # Its publishes reach nobody, which is silent and baffling, so the first one says why.
        self._served_streams = False
        self._explained = False

    def publish(self, events: Iterable[Event]) -> None:
        iterator = iter(events)
        with self._lock:
            anyone_listens = bool(self._subscriptions)
        if not anyone_listens:
            # Nobody here to deliver to (always so in a worker or a command): events may be built
            # lazily (a broadcast describes each notification), so build no more than one.
            published = next(iterator, None) is not None
        else:
            published = False
            for chunk in chunks(iterator):
                self.deliver_locally(chunk)
                published = True
        if published and not self._served_streams and not self._explained:
            # Unlocked: at worst two threads racing here both log, which is harmless.
            self._explained = True
            logger.warning(UNSERVED_HINT)

    def deliver_locally(self, events: Iterable[Event]) -> None:
        with self._lock:
            targets = [(subscription, event) for event in events
                       for subscription in self._subscriptions.get(event.recipient, ())]
        deliver_all(targets)

    def subscribe(self, channels: Iterable[str]) -> Subscription:
        subscription = Subscription(self, channels)
        self._served_streams = True
        self._register(subscription)
        subscription.ready.set()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._unregister(subscription)

    def _register(self, subscription: Subscription) -> list[str]:
        """Add locally; returns the channels nobody here listened to before."""
        with self._lock:
            new = [channel for channel in subscription.channels if not self._subscriptions.get(channel)]
            for channel in subscription.channels:
                self._subscriptions[channel].add(subscription)
        return new

    def _unregister(self, subscription: Subscription) -> list[str]:
        """Remove locally; returns the channels nobody here listens to any more."""
        gone = []
        with self._lock:
            for channel in subscription.channels:
                subscribers = self._subscriptions.get(channel)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._subscriptions[channel]
                        gone.append(channel)
        return gone

    def listens_to(self, channel: str) -> bool:
        with self._lock:
            return bool(self._subscriptions.get(channel))

    def channels(self) -> list[str]:
        with self._lock:
            return list(self._subscriptions)
