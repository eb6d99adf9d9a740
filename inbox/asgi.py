"""``with_inbox_events(app)``: serve the inbox's event stream before Django's middleware.

    # asgi.py
    from django.core.asgi import get_asgi_application
    from inbox.asgi import with_inbox_events

    application = with_inbox_events(get_asgi_application())

Django's handler keeps a thread and a full request (about 230 KB) alive for every open
streaming response. Here a stream is a coroutine: the session cookie is read, the session and
user loaded with Django's async APIs, and the stream waits on the broker without a thread.
Requests to any other path go to ``app`` untouched.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
from collections.abc import Callable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import aget_user
from django.core.handlers.asgi import ASGIRequest
from django.urls import reverse

from inbox import conf
from inbox.sse.stream import InboxStream
from inbox.sse.views import HEADERS

ASGIApp = Callable[..., Any]
logger = logging.getLogger("inbox.sse")


def with_inbox_events(app: ASGIApp, *, path: str | None = None) -> ASGIApp:
    """Wrap ``app`` so that GET ``path`` (default: the URL of ``inbox:events``) streams events."""
    events_path: list[str] = [path] if path else []

    async def application(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            if not events_path:
                events_path.append(reverse("inbox:events"))
            if scope["path"] == events_path[0] and scope["method"] in ("GET", "HEAD"):
                await serve_events(scope, receive, send)
                return
        await app(scope, receive, send)

    return application


async def resolve_recipients(scope: dict[str, Any]) -> list[Any]:
    request = ASGIRequest(scope, io.BytesIO())
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    request.user = await aget_user(request)
    resolver = conf.load(conf.get("RECIPIENTS_RESOLVER"))
    # A resolver may be async; a sync one must not query the database (the default does not).
    found = resolver(request)
    if inspect.isawaitable(found):
        found = await found
    return list(found)


async def serve_events(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
    who = await resolve_recipients(scope)
    if not who:
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"Sign in to receive notifications."})
        return
    headers = [(b"content-type", b"text/event-stream"), *[(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if scope["method"] == "HEAD":
        await send({"type": "http.response.body", "body": b""})
        return

    async def stream() -> None:
        async for chunk in InboxStream(who).aiter():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    streaming = asyncio.ensure_future(stream())
    watching = asyncio.ensure_future(disconnected())
    try:
        done, _pending = await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (streaming, watching):
            task.cancel()
        await asyncio.gather(streaming, watching, return_exceptions=True)
    if streaming in done:
        error = streaming.exception()
        if error is not None:
            logger.error("Inbox event stream failed.", exc_info=error)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
