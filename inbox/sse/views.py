"""The SSE endpoint as a plain Django view: works under runserver (WSGI) and ASGI servers.

For many open streams on ASGI, mount ``inbox.asgi.with_inbox_events`` instead: it serves the
same URL before Django's middleware, with no thread per stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from inbox import recipients
from inbox.sse.limits import Ticket, registry
from inbox.sse.sessions import owner_of
from inbox.sse.stream import InboxStream

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SIGN_IN = _("Sign in to receive notifications.")
TOO_MANY = _("Too many open notification streams. Close a tab or two and reload.")


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
    who = recipients.for_request(request)
    if not who:
        # No stream at all for someone who may see nothing (never a 200 that stays silent).
        return HttpResponse(SIGN_IN, status=401 if not request.user.is_authenticated else 403,
                            content_type="text/plain; charset=utf-8")
    owner = owner_of(request)
    ticket = None
    if owner is not None:
        ticket = registry.admit(owner)
        if ticket is None:
            return HttpResponse(TOO_MANY, status=429, content_type="text/plain; charset=utf-8")
    stream = InboxStream(who, owner=owner, ticket=ticket)
    return stream_response(stream, asynchronous=isinstance(request, ASGIRequest))
