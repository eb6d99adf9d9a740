"""What one browser's event stream says, for the recipients its request may see.

The database is the truth: an event only means "this recipient changed" (plus, for new
notifications, a short preview for their toast). A stream lives only as long as the session
that opened it (or, opened with a token, while its user stays active with the same password): it
re-checks that at every heartbeat and before every delivery. On every (re)connect the stream sends the current
badge first; after events it re-reads the counts, so a lost or coalesced event never leaves a
wrong badge. Streams woken together (a broadcast) share one thread hop for their session checks,
counts and details (``inbox.sse.delivery``), and one rendering of each toast and badge.

Two formats: ``html`` (the default: ``badge``, ``toast`` and ``inbox`` events, fragments for htmx)
and ``json`` for native apps and single-page front ends (``counts`` and ``notification`` events).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import time
import uuid
from collections.abc import AsyncIterator, Generator, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import get_language, ngettext

from inbox import conf, events, stats
from inbox.events.base import Event, describe, toast_timeout
from inbox.models import Notification
from inbox.recipients import Key, keys_of, label
from inbox.sse import delivery, sessions
from inbox.sse.batching import TickBatcher
from inbox.sse.db import healthy
from inbox.sse.limits import Ticket

HEARTBEAT = b": ping\n\n"
#: What ``?format=`` may ask for: fragments for htmx (the default) or data.
FORMATS = ("html", "json")


def sse(event: str, data: str) -> bytes:
    """One Server-Sent Event; multi-line data gets a data: field per line."""
    lines = "".join(f"data: {line}\n" for line in (data.splitlines() or [""]))
    return f"event: {event}\n{lines}\n".encode()


class InboxStream:
    """The event stream for one request's recipients."""

    def __init__(self, recipients: Sequence[Any], *, owner: sessions.Owner | None = None,
                 ticket: Ticket | None = None, format: str = "html") -> None:
        if format not in FORMATS:
            raise ValueError(f"Unknown stream format {format!r}: expected one of {', '.join(FORMATS)}.")
        self.recipients = list(recipients)
        self.keys: list[Key] = []
        #: The session user that opened the stream; None (a custom resolver) skips session checks.
        self.owner = owner
        #: This stream's place under the per-session and per-user caps; released when it ends.
        self.ticket = ticket
        #: "html" (badge, toast and inbox fragments) or "json" (counts and notification data).
        self.format = format

    def prepare(self) -> list[str]:
        """Resolve the recipients' keys; returns the broker channels. Sync: it may query content types."""
        self.keys = keys_of(self.recipients)
        return [label(key) for key in self.keys]

    # -- rendering: no database access, so it can run in the event loop ----------------------------

    def opening(self, counts: stats.Counts) -> bytes:
        return f"retry: {int(conf.get('SSE_RETRY_MS'))}\n\n".encode() + self.badge(counts)

    def badge(self, counts: stats.Counts) -> bytes:
        """The counts as this stream's format shows them: the badge fragment, or ``counts`` JSON."""
        if self.format == "json":
            return _counts_event(counts)
        return _badge_event(counts, get_language())

    def render(self, batch: Sequence[Event], counts: stats.Counts, details: Sequence[dict[str, Any]]) -> bytes:
        """One burst of events: a fresh badge, toasts for what is new, and an inbox refresh
        (json: the counts, and the new notifications' data when there are any)."""
        silent = [payload for event in batch for payload in event.silent]
        if self.format == "json":
            data = [self.badge(counts)]
            if details or silent:
                data.append(sse("notification", json.dumps([*details, *silent])))
            return b"".join(data)
        out = [self.badge(counts), *self.toasts(list(details), silent), sse("inbox", "changed")]
        if conf.get("EVENT_DATA") and (details or silent):
            out.append(sse("notification", json.dumps([*details, *silent])))
        return b"".join(out)

    def toasts(self, new: list[dict[str, Any]], silent: list[dict[str, Any]]) -> list[bytes]:
        limit = int(conf.get("SSE_TOASTS_PER_BURST"))
        language = get_language()
        items = [*new, *silent]
        shown = items if len(items) <= limit else items[: limit - 1]
        out = [
            _toast_event(item.get("message", ""), _level_name(item.get("level")), toast_timeout(item), language,
                         item["uid"] if index < len(new) else None)
            for index, item in enumerate(shown)
        ]
        if len(items) > limit:
            more = len(items) - (limit - 1)
            text = ngettext("%(count)d more new notification", "%(count)d more new notifications", more) % {"count": more}
            out.append(_render_toast({"text": text, "level": "info", "url": reverse("inbox:list")}))
        return out

    # -- what a burst is about ----------------------------------------------------------------------

    @staticmethod
    def carried(batch: Sequence[Event]) -> tuple[list[dict[str, Any]], list[str]]:
        """New notifications described by the events themselves, and the uids that came bare."""
        details: dict[str, dict[str, Any]] = {}
        for event in batch:
            for item in event.details:
                details[item["uid"]] = item
        bare = [uid for event in batch for uid in event.new if uid not in details]
        ordered = sorted(details.values(), key=lambda item: item.get("sent_at", ""), reverse=True)
        return ordered, list(dict.fromkeys(bare))

    def fetch(self, uids: list[str]) -> list[dict[str, Any]]:
        """Details for uids an event named without describing them, read from the database —
        scoped to these recipients, so an event can never show someone else's notification."""
        if not uids:
            return []
        objects: Any = Notification.objects  # its queryset methods are not in the manager's type
        rows = (
            objects.recipients(self.recipients).visible().filter(uid__in=uids[-200:]).order_by("-sent_at", "-id")
        )
        return [describe(n) for n in rows]

    def render_now(self, batch: Sequence[Event]) -> bytes:
        """Render a burst from synchronous code, reading what it needs from the database."""
        details, bare = self.carried(batch)
        return self.render(batch, stats.counts_for(self.recipients), details + self.fetch(bare))

    # -- lifetime ---------------------------------------------------------------------------------

    def _subscribe(self, channels: list[str]) -> events.Subscription:
        subscription = events.get_broker().subscribe(channels)
        if self.ticket is not None:
            self.ticket.on_evict(subscription.interrupt)
        return subscription

    def _end(self, subscription: events.Subscription) -> None:
        subscription.close()
        if self.ticket is not None:
            self.ticket.release()

    async def signed_in(self) -> bool:
        """Whether the session (or, for a token stream, the user) that opened the stream still holds."""
        return self.owner is None or await sessions.checks().signed_in(self.owner)

    def signed_in_now(self) -> bool:
        return self.owner is None or sessions.signed_in_all([self.owner])[self.owner]

    # -- streaming --------------------------------------------------------------------------------

    async def aiter(self) -> AsyncIterator[bytes]:
        """For ASGI servers: waits without a thread; database reads are batched across streams."""
        channels = await sync_to_async(healthy(self.prepare))()
        subscription = self._subscribe(channels)
        try:
            await subscription.wait_ready()
            yield self.opening(await _batcher().counts(self.keys))
            heartbeat = float(conf.get("SSE_HEARTBEAT"))
            interval = float(conf.get("SSE_MIN_INTERVAL"))
            loop = asyncio.get_running_loop()
            last = -interval
            while True:
                batch = await subscription.next_batch(heartbeat)
                if subscription.interrupted:
                    return
                if not batch:
                    if not await self.signed_in():
                        return
                    yield HEARTBEAT
                    continue
                pause = last + interval - loop.time()
                if pause > 0:  # in a burst: gather until the interval is up
                    await asyncio.sleep(pause)
                    batch += subscription.drain()
                if subscription.interrupted:
                    return
                # Read after gathering, right before anything is shown: a burst that began before
                # a logout must not be delivered after it. The session check, the counts and any
                # bare uids' details come in one hop, shared with every stream woken with this one.
                details, bare = self.carried(batch)
                reading = await delivery.reads().ask(delivery.Ask.of(self.owner, self.keys, bare))
                if not reading.signed_in:
                    return
                yield self.render(batch, reading.counts, [*details, *reading.details])
                last = loop.time()
        finally:
            self._end(subscription)

    def iter(self) -> Generator[bytes, None, None]:
        """For WSGI servers (runserver): holds a thread, so it ends after SSE_WSGI_SECONDS and the
        browser reconnects (it gets the current badge again at once)."""
        subscription = self._subscribe(healthy(self.prepare)())
        try:
            subscription.ready.wait(2)
            yield self.opening(healthy(stats.counts_for)(self.recipients))
            deadline = time.monotonic() + float(conf.get("SSE_WSGI_SECONDS"))
            heartbeat = float(conf.get("SSE_HEARTBEAT"))
            interval = float(conf.get("SSE_MIN_INTERVAL"))
            last = -interval
            while (remaining := deadline - time.monotonic()) > 0:
                batch = subscription.wait(min(heartbeat, remaining))
                if subscription.interrupted:
                    return
                if not batch:
                    if not self.signed_in_now():
                        return
                    yield HEARTBEAT
                    continue
                pause = last + interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                    batch += subscription.drain()
                if subscription.interrupted or not self.signed_in_now():
                    return
                yield healthy(self.render_now)(batch)
                last = time.monotonic()
        finally:
            self._end(subscription)


class CountsBatcher(TickBatcher[tuple[Key, ...], stats.Counts]):
    """The badge reads of every stream woken in the same moment, in one query.

    A broadcast to 1,000 connected users wakes 1,000 streams at once; each asks for its badge
    here (the sum of its recipients' counts), and one query answers them all.
    """

    def read(self, keys: list[tuple[Key, ...]]) -> dict[tuple[Key, ...], stats.Counts]:
        found = _read_counts({key for group in keys for key in group})
        return {group: stats.total(found.get(key, stats.Counts()) for key in group) for group in keys}

    async def counts(self, keys: Sequence[Key]) -> stats.Counts:
        return await self.ask(tuple(keys))


@healthy
def _read_counts(keys: set[Key]) -> dict[Key, stats.Counts]:
    return stats.counts_by_key(keys)


def _batcher() -> CountsBatcher:
    batcher = CountsBatcher.for_loop()
    assert isinstance(batcher, CountsBatcher)
    return batcher


@functools.lru_cache(maxsize=512)
def _counts_event(counts: stats.Counts) -> bytes:
    """The counts as JSON: ``{"total": 3, "unread": 2, "unseen": 1, "read": 1, ...}``."""
    return sse("counts", json.dumps(dataclasses.asdict(counts)))


@functools.lru_cache(maxsize=512)
def _badge_event(counts: stats.Counts, language: str | None) -> bytes:
    """The badge depends only on the counts (and the language): a broadcast wakes many streams
    whose counts are equal, and they share one rendering. Counts is a frozen dataclass."""
    return sse("badge", render_to_string("inbox/badge.html#badge", {"inbox_counts": counts}).strip())


#: A uid the detail URL accepts, rendered in place of each recipient's own (see _toast_event).
PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"


def _toast_event(text: str, level: str, timeout: float | None, language: str | None, uid: str | None) -> bytes:
    """One toast event. A broadcast shows the same toast to every stream it wakes, but for the uid
    in its link: the toast is rendered once with a placeholder uid and each stream's uid is put in
    its place (a canonical UUID, as the URL pattern takes it; anything else is rendered whole)."""
    where = (get_script_prefix(), get_urlconf())
    if uid is None:
        return _shared_toast(text, level, timeout, language, where, False)[0]
    if not _is_canonical_uuid(uid):
        return _render_toast({"text": text, "level": level, "timeout": timeout,
                              "url": reverse("inbox:detail", args=[uid])})
    parts = _shared_toast(text, level, timeout, language, where, True)
    if len(parts) != 2:  # the placeholder is not only in the link (the text holds it): no reuse
        return _render_toast({"text": text, "level": level, "timeout": timeout,
                              "url": reverse("inbox:detail", args=[uid])})
    return parts[0] + uid.encode() + parts[1]


@functools.lru_cache(maxsize=256)
def _shared_toast(text: str, level: str, timeout: float | None, language: str | None,
                  where: tuple[str, Any], linked: bool) -> tuple[bytes, ...]:
    """The toast's event split around the placeholder uid (one part when it has no link). Keyed
    by all a rendering depends on: the language, and the script prefix and URLconf reverse() uses."""
    url = reverse("inbox:detail", args=[PLACEHOLDER_UID]) if linked else ""
    event = _render_toast({"text": text, "level": level, "timeout": timeout, "url": url})
    return tuple(event.split(PLACEHOLDER_UID.encode())) if linked else (event,)


def _render_toast(toast: dict[str, Any]) -> bytes:
    return sse("toast", render_to_string("inbox/toasts.html#toast", {"toast": toast}).strip())


def _is_canonical_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, TypeError, AttributeError):
        return False


@functools.lru_cache(maxsize=64)
def _level_name(level: Any) -> str:
    return Notification(level=level).level_name
