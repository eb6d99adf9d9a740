"""What one browser's event stream says, for the recipients its request may see.

The database is the truth: an event only means "this recipient changed". On every
(re)connect the stream sends the current badge first; after events it re-reads the counts,
so a lost or coalesced event never leaves a wrong badge.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import ngettext

from inbox import conf, events, stats
from inbox.events.base import Event
from inbox.models import Notification
from inbox.recipients import keys_of, label


def sse(event: str, data: str) -> bytes:
    """One Server-Sent Event; multi-line data gets a data: field per line."""
    lines = "".join(f"data: {line}\n" for line in (data.splitlines() or [""]))
    return f"event: {event}\n{lines}\n".encode()


HEARTBEAT = b": ping\n\n"


class InboxStream:
    """The event stream for one request's recipients."""

    def __init__(self, recipients: Sequence[Any]) -> None:
        self.recipients = list(recipients)

    def channels(self) -> list[str]:
        """The broker channels to listen on (may query content types: call it from sync code)."""
        return [label(key) for key in keys_of(self.recipients)]

    # -- rendering (sync: templates and ORM) ------------------------------------------------------

    def opening(self) -> bytes:
        return f"retry: {int(conf.get('SSE_RETRY_MS'))}\n\n".encode() + self.badge()

    def badge(self) -> bytes:
        counts = stats.counts_for(self.recipients)
        html = render_to_string("inbox/badge.html#badge", {"inbox_counts": counts})
        return sse("badge", html.strip())

    def render(self, batch: Sequence[Event]) -> bytes:
        """One burst of events: a fresh badge, toasts for what is new, and an inbox refresh."""
        uids = list(dict.fromkeys(uid for event in batch for uid in event.new))
        silent = [payload for event in batch for payload in event.silent]
        new = list(
            Notification.objects.recipients(self.recipients)
            .filter(uid__in=uids[-200:])
            .order_by("-sent_at", "-id")
        ) if uids else []
        out = [self.badge()]
        out.extend(self.toasts(new, silent))
        out.append(sse("inbox", "changed"))
        if conf.get("EVENT_DATA") and (new or silent):
            data = [self.data(n) for n in new] + silent
            out.append(sse("notification", json.dumps(data)))
        return b"".join(out)

    def toasts(self, new: list[Notification], silent: list[dict[str, Any]]) -> list[bytes]:
        limit = int(conf.get("SSE_TOASTS_PER_BURST"))
        items = [
            {"text": n.message, "level": n.level_name, "url": reverse("inbox:detail", args=[n.uid])}
            for n in new
        ] + [{"text": p.get("message", ""), "level": _level_name(p.get("level")), "url": ""} for p in silent]
        if len(items) > limit:
            more = len(items) - (limit - 1)
            items = items[: limit - 1] + [{
                "text": ngettext("%(count)d more new notification", "%(count)d more new notifications", more)
                % {"count": more},
                "level": "info",
                "url": reverse("inbox:list"),
            }]
        return [
            sse("toast", render_to_string("inbox/toasts.html#toast", {"toast": item}).strip()) for item in items
        ]

    @staticmethod
    def data(notification: Notification) -> dict[str, Any]:
        return {
            "uid": str(notification.uid),
            "message": notification.message,
            "level": notification.level,
            "category": notification.category,
            "url": notification.url,
            "sent_at": notification.sent_at.isoformat(),
        }

    # -- streaming --------------------------------------------------------------------------------

    async def aiter(self) -> AsyncIterator[bytes]:
        """For ASGI servers: waits without a thread; the ORM work runs in Django's one sync thread."""
        subscription = events.get_broker().subscribe(await sync_to_async(self.channels)())
        try:
            await subscription.wait_ready()
            yield await sync_to_async(self._opening_closing)()
            heartbeat = float(conf.get("SSE_HEARTBEAT"))
            interval = float(conf.get("SSE_MIN_INTERVAL"))
            loop = asyncio.get_running_loop()
            last = -interval
            while True:
                batch = await subscription.next_batch(heartbeat)
                if not batch:
                    yield HEARTBEAT
                    continue
                pause = last + interval - loop.time()
                if pause > 0:  # in a burst: gather until the interval is up
                    await asyncio.sleep(pause)
                    batch += subscription.drain()
                yield await sync_to_async(self._render_closing)(batch)
                last = loop.time()
        finally:
            subscription.close()

    def iter(self) -> Iterator[bytes]:
        """For WSGI servers (runserver): holds a thread, so it ends after SSE_WSGI_SECONDS and the
        browser reconnects (it gets the current badge again at once)."""
        subscription = events.get_broker().subscribe(self.channels())
        try:
            subscription.ready.wait(2)
            yield self.opening()
            deadline = time.monotonic() + float(conf.get("SSE_WSGI_SECONDS"))
            heartbeat = float(conf.get("SSE_HEARTBEAT"))
            interval = float(conf.get("SSE_MIN_INTERVAL"))
            last = -interval
            while (remaining := deadline - time.monotonic()) > 0:
                batch = subscription.wait(min(heartbeat, remaining))
                if not batch:
                    yield HEARTBEAT
                    continue
                pause = last + interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                    batch += subscription.drain()
                yield self.render(batch)
                last = time.monotonic()
        finally:
            subscription.close()

    def _opening_closing(self) -> bytes:
        try:
            return self.opening()
        finally:
            close_old_connections()

    def _render_closing(self, batch: Sequence[Event]) -> bytes:
        try:
            return self.render(batch)
        finally:
            close_old_connections()


def _level_name(level: Any) -> str:
    return Notification(level=level).level_name
