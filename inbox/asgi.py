"""``with_inbox_events(app)``: serve the inbox's event stream before Django's middleware.

    # asgi.py
    from django.core.asgi import get_asgi_application
    from inbox.asgi import with_inbox_events

    application = with_inbox_events(get_asgi_application())

Django's handler keeps a thread and a full request (about 230 KB) alive for every open
streaming response. Here a stream is a coroutine: the session cookie is read, the session and
user loaded in one thread hop, and the stream waits on the broker without a thread.
Requests to any other path go to ``app`` untouched.

The query takes what the view takes: ``?token=`` (``inbox.sse.tokens``: the token's user, no
session cookie read; an invalid token is a 401) and ``?format=json`` (a bad format is a 400).
"""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
from collections.abc import Callable
from importlib import import_module
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.asgi import ASGIRequest
from django.http import QueryDict
from django.urls import reverse

from inbox import conf
from inbox.sse import tokens
from inbox.sse.db import healthy
from inbox.sse.limits import registry
from inbox.sse.sessions import Owner, owner_of
from inbox.sse.stream import InboxStream
from inbox.sse.views import BAD_FORMAT, BAD_TOKEN, HEADERS, SIGN_IN, TOO_MANY, stream_options

ASGIApp = Callable[..., Any]
logger = logging.getLogger("inbox.sse")


def with_inbox_events(app: ASGIApp, *, path: str | None = None) -> ASGIApp:
    """Wrap ``app`` so that GET ``path`` (default: the URL of ``inbox:events``) streams events."""
    events_path: list[str] = [path] if path else []

    async def application(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "http":
            if not events_path:
                events_path.append(reverse("inbox:events"))
            if scope["path"] == events_path[0] and scope["method"] in ("GET", "HEAD"):
                await serve_events(scope, receive, send)
                return
        await app(scope, receive, send)

    return application


def _authenticate(scope: dict[str, Any]) -> ASGIRequest:
    """The request with its session and user, as Django's middleware would give a view."""
    request = ASGIRequest(scope, io.BytesIO())
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    user = get_user(request)
    request.user = user

    async def auser() -> Any:  # as AuthenticationMiddleware gives async resolvers
        return user

    request.auser = auser
    return request


@healthy
def _open_sync(scope: dict[str, Any], resolver: Callable[[Any], Any]) -> tuple[ASGIRequest, Any]:
    # One thread hop for the session, the user and a sync resolver, which may query the
    # database (a team lookup): it must not run in the event loop.
    request = _authenticate(scope)
    found = resolver(request)
    return request, found if inspect.isawaitable(found) else list(found)


async def open_request(scope: dict[str, Any]) -> tuple[ASGIRequest, list[Any]]:
    """The authenticated request and its recipients, from a sync or an ``async def`` resolver."""
    resolver = conf.load(conf.get("RECIPIENTS_RESOLVER"))
    if iscoroutinefunction(resolver):
        request = await sync_to_async(healthy(_authenticate))(scope)
        found = await resolver(request)
    else:
        request, found = await sync_to_async(_open_sync)(scope, resolver)
        if inspect.isawaitable(found):
            found = await found
    return request, list(found)


@healthy
def _open_token_sync(scope: dict[str, Any], token: str,
                     resolver: Callable[[Any], Any] | None) -> tuple[ASGIRequest, Any, Owner] | None:
    # One thread hop for the token's user and a sync resolver; no session cookie is read.
    grant = tokens.read(token)
    if grant is None:
        return None
    request = tokens.request_as(ASGIRequest(scope, io.BytesIO()), grant.user)
    if resolver is None:
        return request, None, grant.owner
    found = resolver(request)
    return request, found if inspect.isawaitable(found) else list(found), grant.owner


async def open_token_request(scope: dict[str, Any], token: str) -> tuple[ASGIRequest, list[Any], Owner] | None:
    """The request as the token's user makes it, its recipients and the stream's owner; None
    for an invalid token."""
    resolver = conf.load(conf.get("RECIPIENTS_RESOLVER"))
    asynchronous = iscoroutinefunction(resolver)
    opened = await sync_to_async(_open_token_sync)(scope, token, None if asynchronous else resolver)
    if opened is None:
        return None
    request, found, owner = opened
    if asynchronous:
        found = await resolver(request)
    elif inspect.isawaitable(found):
        found = await found
    return request, list(found), owner


async def resolve_recipients(scope: dict[str, Any]) -> list[Any]:
    return (await open_request(scope))[1]


async def _refuse(send: Callable[..., Any], status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": text.encode()})


async def serve_events(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    try:
        query = scope.get("query_string", b"")
        query.decode()  # as Django's handler: a query that is not UTF-8 is a bad request
        options = stream_options(QueryDict(query))
    except (UnicodeDecodeError, SuspiciousOperation):
        await _refuse(send, 400, "Bad Request")
        return
    if options is None:
        await _refuse(send, 400, str(BAD_FORMAT))
        return
    owner: Owner | None
    if options.token is not None:
        opened = await open_token_request(scope, options.token)
        if opened is None:
            await _refuse(send, 401, str(BAD_TOKEN))
            return
        request, who, owner = opened
    else:
        request, who = await open_request(scope)
        owner = owner_of(request)
    if not who:
        await _refuse(send, 401 if not request.user.is_authenticated else 403, str(SIGN_IN))
        return
    ticket = registry.admit(owner) if owner is not None else None
    if owner is not None and ticket is None:
        await _refuse(send, 429, str(TOO_MANY))
        return
    try:
        await _stream(InboxStream(who, owner=owner, ticket=ticket, format=options.format), scope, receive, send)
    finally:
        if ticket is not None:
            ticket.release()


async def _stream(inbox_stream: InboxStream, scope: dict[str, Any], receive: Callable[..., Any],
                  send: Callable[..., Any]) -> None:
    headers = [(b"content-type", b"text/event-stream"), *[(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if scope["method"] == "HEAD":
        await send({"type": "http.response.body", "body": b""})
        return

    async def stream() -> None:
        async for chunk in inbox_stream.aiter():
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
        # The stream ended by itself (signed out, replaced by a newer one): close the response.
        await send({"type": "http.response.body", "body": b"", "more_body": False})
