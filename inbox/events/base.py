"""The broker interface: a tiny publish/subscribe API, like contrib.messages' storage backends."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Event:
    """"This recipient's notifications changed." The database stays the truth.

    ``recipient`` is the channel, e.g. ``auth.user:42``; ``new`` holds the uids of
    notifications that just became visible; ``silent`` carries notifications that
    were never stored (``send(silent=True)``) as plain dicts.
    """

    recipient: str
    new: tuple[str, ...] = ()
    silent: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"recipient": self.recipient, "new": list(self.new), "silent": list(self.silent)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(recipient=data["recipient"], new=tuple(data.get("new", ())), silent=tuple(data.get("silent", ())))


class Subscription:
    """Events for some channels, filled from any thread, read from async code or drained synchronously."""

    def __init__(self, broker: Broker, channels: Iterable[str], *, max_pending: int = 1000) -> None:
        self.broker = broker
        self.channels = frozenset(channels)
        # Oldest events are dropped past max_pending: each event only says "changed",
        # and the reader resyncs from the database, so the newest ones suffice.
        self._events: deque[Event] = deque(maxlen=max_pending)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self.closed = False

    def deliver(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
            loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None:
            try:
                loop.call_soon_threadsafe(wakeup.set)
            except RuntimeError:  # the loop has closed
                pass

    def drain(self) -> list[Event]:
        with self._lock:
            events = list(self._events)
            self._events.clear()
            if self._wakeup is not None:
                self._wakeup.clear()
        return events

    async def get(self) -> Event:
        """Wait for the next event."""
        while True:
            with self._lock:
                if self._events:
                    return self._events.popleft()
                if self._wakeup is None:
                    self._loop = asyncio.get_running_loop()
                    self._wakeup = asyncio.Event()
                self._wakeup.clear()
                wakeup = self._wakeup
            await wakeup.wait()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.broker.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Broker:
    """Base class for brokers: subclass and implement ``publish`` (and usually ``subscribe``)."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def publish(self, events: Sequence[Event]) -> None:
        raise NotImplementedError

    def subscribe(self, channels: Iterable[str]) -> Subscription:
        raise NotImplementedError

    def unsubscribe(self, subscription: Subscription) -> None:
        raise NotImplementedError
