"""The default broker: fan-out to subscribers inside this process."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

from inbox.events.base import Broker, Event, Subscription, chunks


class InProcessBroker(Broker):
    """Delivers to subscriptions in the same process; enough for one server process.

    A publish from another process (a management command, a worker) does not reach
    these subscribers: use :class:`inbox.events.redis.RedisBroker` for that.
    """

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self._lock = threading.Lock()
        self._subscriptions: dict[str, set[Subscription]] = defaultdict(set)

    def publish(self, events: Iterable[Event]) -> None:
        for chunk in chunks(events):
            self.deliver_locally(chunk)

    def deliver_locally(self, events: Iterable[Event]) -> None:
        with self._lock:
            targets = [(event, tuple(self._subscriptions.get(event.recipient, ()))) for event in events]
        for event, subscriptions in targets:
            for subscription in subscriptions:
                subscription.deliver(event)

    def subscribe(self, channels: Iterable[str]) -> Subscription:
        subscription = Subscription(self, channels)
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
