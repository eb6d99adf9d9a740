"""The SSE endpoint as a plain Django view: works under runserver (WSGI) and ASGI servers.

For many open streams on ASGI, mount ``inbox.asgi.with_inbox_events`` instead: it serves the
same URL before Django's middleware, with no thread per stream.

Query parameters (the same for the mount): ``?token=`` opens the stream of a token's user instead
of the session's (``inbox.sse.tokens``; an invalid token is a 401, never a stream), and
``?format=json`` sends data instead of HTML fragments (anything but ``html`` or ``json``: 400).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from inbox import recipients
from inbox.sse import tokens
from inbox.sse.limits import Ticket, registry
from inbox.sse.sessions import Owner, owner_of
from inbox.sse.stream import FORMATS, InboxStream

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SIGN_IN = _("Sign in to receive notifications.")
TOO_MANY = _("Too many open notification streams. Close a tab or two and reload.")
BAD_TOKEN = _("This stream token is invalid or has expired. Ask for a new one.")
BAD_FORMAT = _("Unknown stream format: use format=html or format=json.")


class StreamOptions(NamedTuple):
    """What a stream request's query asks for."""

    format: str
    #: None when the query has no ``token``; "" (never valid) for an empty or repeated one.
    token: str | None


def stream_options(query: QueryDict) -> StreamOptions | None:
    """The query's ``format`` and ``token``; None when ``format`` is not one of FORMATS (a 400)."""
    formats = query.getlist("format")
    if len(formats) > 1 or (formats and formats[0] not in FORMATS):
        return None
    given = query.getlist("token")
    token = (given[0] if len(given) == 1 else "") if given else None
    return StreamOptions(format=formats[0] if formats else "html", token=token)


def plain(text: Any, status: int) -> HttpResponse:
    return HttpResponse(str(text), status=status, content_type="text/plain; charset=utf-8")


class _SyncBody:
    """The stream's body; ``close()`` (which Django calls on every response) gives the stream's
    place back even when the server never started reading it."""

    def __init__(self, stream: InboxStream) -> None:
        self.stream = stream
        self.body = stream.iter()

    def __iter__(self) -> Iterator[bytes]:
        return self.body

    def close(self) -> None:
        self.body.close()
        _release(self.stream.ticket)


class _AsyncBody:
    def __init__(self, stream: InboxStream) -> None:
        self.stream = stream
        self.body = stream.aiter()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.body

    def close(self) -> None:
        _release(self.stream.ticket)


def _release(ticket: Ticket | None) -> None:
    if ticket is not None:
        ticket.release()


def stream_response(stream: InboxStream, *, asynchronous: bool) -> StreamingHttpResponse:
    body = _AsyncBody(stream) if asynchronous else _SyncBody(stream)
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    for name, value in HEADERS.items():
        response[name] = value
    return response


@require_GET
def events(request: HttpRequest) -> HttpResponseBase:
    options = stream_options(request.GET)
    if options is None:
        return plain(BAD_FORMAT, 400)
    seen_as: Any = request
    owner: Owner | None = None
    if options.token is not None:
        grant = tokens.read(options.token)
        if grant is None:
            return plain(BAD_TOKEN, 401)
        # The resolver sees the token's user and no session, whatever cookie came along.
        seen_as, owner = tokens.request_as(request, grant.user), grant.owner
    who = recipients.for_request(seen_as)
    if not who:
        # No stream at all for someone who may see nothing (never a 200 that stays silent).
        return plain(SIGN_IN, 401 if not seen_as.user.is_authenticated else 403)
    if options.token is None:
        owner = owner_of(request)
    stream = InboxStream(who, owner=owner, format=options.format)
    if owner is not None:
        stream.ticket = registry.admit(owner)
        if stream.ticket is None:
            return plain(TOO_MANY, 429)
    return stream_response(stream, asynchronous=isinstance(request, ASGIRequest))
