"""The broker interface: a tiny publish/subscribe API, like contrib.messages' storage backends."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from inbox import shortcodes

#: Events a broker takes from an iterable at a time: a broadcast to 200,000 recipients is never
#: held in memory at once.
CHUNK = 500


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
    #: What a toast needs for each of ``new`` (see :func:`describe`), so streams need no query for it.
    details: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:  # JSON-ready, for brokers that cross processes
        return {"recipient": self.recipient, "new": list(self.new), "silent": list(self.silent),
                "details": list(self.details)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(
            recipient=data["recipient"],
            new=tuple(data.get("new", ())),
            silent=tuple(data.get("silent", ())),
            details=tuple(data.get("details", ())),
        )


def describe(notification: Any) -> dict[str, Any]:
    """A notification as events carry it (and as EVENT_DATA sends it to the browser).

    The message is its text as shown, shortcodes expanded (:func:`inbox.shortcodes.expand_text`):
    a toast shows it as text, never reading it for shortcodes again. It is cut to
    ``EVENT_PREVIEW_LENGTH`` characters: an event is a nudge with a toast's
    worth of text, never the message itself (a 1 MB message must not cross Redis, nor reach a
    browser through a stream). The full text stays in the database, behind the toast's link.
    ``extra["close_timeout"]`` (seconds; 0 keeps the toast until dismissed) is the only key of
    ``extra`` an event carries: nothing else a site stores there is sent to a browser.
    """
    described = {
        "uid": str(notification.uid),
        "message": preview(shortcodes.expand_text(notification.message, {"notification": notification})),
        "level": notification.level,
        "category": notification.category,
        "url": notification.url,
        "sent_at": notification.sent_at.isoformat(),
    }
    timeout = toast_timeout(notification.extra)
    if timeout is not None:
        described["close_timeout"] = timeout
    return described


def toast_timeout(extra: Any) -> float | None:
    """``extra["close_timeout"]`` if it is a number of seconds (0 or more), else None."""
    value = extra.get("close_timeout") if isinstance(extra, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 86_400:
        return None
    return value


def preview(message: str) -> str:
    from inbox import conf

    limit = max(int(conf.get("EVENT_PREVIEW_LENGTH")), 1)
    if len(message) <= limit:
        return message
    return message[: limit - 1].rstrip() + "\u2026"


def chunks(events: Iterable[Event], size: int = CHUNK) -> Iterator[list[Event]]:
    """Consume ``events`` once, ``size`` at a time."""
    iterator = iter(events)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


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
        self._waiter: asyncio.Future[None] | None = None
        self._sync_wakeup = threading.Event()
        #: Set once the broker delivers on these channels (at once in-process; after SUBSCRIBE on Redis).
        self.ready = threading.Event()
        self.closed = False
        #: Set by :meth:`interrupt`: the reader should stop (its stream was closed from outside).
        self.interrupted = False

    def deliver(self, event: Event) -> None:
        """Called by the broker, from any thread."""
        self._wake_reader(self._enqueue(event))

    def _enqueue(self, event: Event) -> asyncio.AbstractEventLoop | None:
        """Queue ``event``; returns the loop of an async reader waiting for it, which needs waking."""
        with self._lock:
            self._events.append(event)
            return self._loop if self._waiter is not None else None

    def interrupt(self) -> None:
        """Wake the reader with nothing to read, from any thread, so it notices ``interrupted``."""
        with self._lock:
            self.interrupted = True
            loop = self._loop if self._waiter is not None else None
        self._wake_reader(loop)

    def _wake_reader(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Wake a synchronous reader and, from any thread, an async one waiting on ``loop``."""
        self._sync_wakeup.set()
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop has closed
                pass

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def drain(self) -> list[Event]:
        with self._lock:
            events = list(self._events)
            self._events.clear()
            self._sync_wakeup.clear()
        return events

    def wait(self, timeout: float) -> list[Event]:
        """Block this thread until events arrive or ``timeout`` passes (for WSGI streams)."""
        self._sync_wakeup.wait(timeout)
        return self.drain()

    async def _arrival(self, timeout: float | None) -> None:
        """Return once an event is pending, or after ``timeout``. One bare future, so that
        cancelling the reader (a client went away) ends the wait at once."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._events or self.interrupted:
                return
            waiter = self._waiter = loop.create_future()
            self._loop = loop
        handle = loop.call_later(timeout, self._wake) if timeout is not None else None
        try:
            await waiter
        finally:
            if handle is not None:
                handle.cancel()
            with self._lock:
                self._waiter = None

    async def get(self) -> Event:
        """Wait for the next event."""
        while True:
            await self._arrival(None)
            with self._lock:
                if self._events:
                    event = self._events.popleft()
                    if not self._events:
                        self._sync_wakeup.clear()
                    return event

    async def next_batch(self, timeout: float) -> list[Event]:
        """Every pending event once at least one arrives; [] after ``timeout`` seconds."""
        await self._arrival(timeout)
        return self.drain()

    async def wait_ready(self, timeout: float = 2.0) -> bool:
        """Wait until the broker confirms the subscription, so nothing published after this is missed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.ready.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.005)
        return self.ready.is_set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.broker.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def deliver_all(deliveries: Iterable[tuple[Subscription, Event]]) -> None:
    """Deliver many events from any thread, waking each waiting event loop once.

    A broadcast reaches thousands of subscriptions on one loop: one wake-up call per
    subscription would be thousands of writes to the loop's self-pipe from the broker's thread.
    """
    waiting: dict[asyncio.AbstractEventLoop, dict[Subscription, None]] = {}
    for subscription, event in deliveries:
        loop = subscription._enqueue(event)
        subscription._sync_wakeup.set()
        if loop is not None:
            waiting.setdefault(loop, {})[subscription] = None
    for loop, subscriptions in waiting.items():
        try:
            loop.call_soon_threadsafe(_wake_each, list(subscriptions))
        except RuntimeError:  # the loop has closed
            pass


def _wake_each(subscriptions: list[Subscription]) -> None:
    for subscription in subscriptions:
        subscription._wake()


class Broker:
    """Base class for brokers: subclass and implement ``publish`` (and usually ``subscribe``)."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def publish(self, events: Iterable[Event]) -> None:
        """Deliver ``events``. Any iterable, consumed once; a broker takes it in bounded chunks
        (see :func:`chunks`) so memory stays flat however many recipients a send had."""
        raise NotImplementedError

    def subscribe(self, channels: Iterable[str]) -> Subscription:
        raise NotImplementedError

    def unsubscribe(self, subscription: Subscription) -> None:
        raise NotImplementedError
