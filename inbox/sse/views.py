"""The SSE endpoint as a plain Django view: works under runserver (WSGI) and ASGI servers.

For many open streams on ASGI, mount ``inbox.asgi.with_inbox_events`` instead: it serves the
same URL before Django's middleware, with no thread per stream.
"""

from __future__ import annotations

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from inbox import recipients
from inbox.sse.stream import InboxStream

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def stream_response(stream: InboxStream, *, asynchronous: bool) -> StreamingHttpResponse:
    body = stream.aiter() if asynchronous else stream.iter()
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    for name, value in HEADERS.items():
        response[name] = value
    return response


@require_GET
def events(request: HttpRequest) -> HttpResponse:
    who = recipients.for_request(request)
    if not who:
        # No stream at all for someone who may see nothing (never a 200 that stays silent).
        return HttpResponse("Sign in to receive notifications.", status=401 if not request.user.is_authenticated else 403,
                            content_type="text/plain")
    return stream_response(InboxStream(who), asynchronous=isinstance(request, ASGIRequest))
