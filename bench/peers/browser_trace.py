"""The example site's ASGI application with timestamps along the live path, for bench.peers.browser.

Loaded only by that benchmark's server (never by the product): it wraps, from outside, the two
points where time can go on the server — an event reaching the process (``Subscription._enqueue``,
which every delivery goes through, called from the broker's listener thread) and the stream handing its bytes to uvicorn (each chunk
``InboxStream.aiter`` yields) — and appends ``<point> <time.time()>`` lines to ``INBOX_TRACE_FILE``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

from example_site.asgi import application as traced  # noqa: F401  (sets Django up first)
from inbox.events.base import Subscription
from inbox.sse.stream import InboxStream

TRACE = open(os.environ["INBOX_TRACE_FILE"], "a", buffering=1)  # noqa: SIM115  (for the process's life)
_enqueue = Subscription._enqueue
_aiter = InboxStream.aiter


def enqueue(self: Subscription, event: Any) -> Any:
    TRACE.write(f"delivered {time.time()}\n")
    return _enqueue(self, event)


async def aiter(self: InboxStream) -> AsyncIterator[bytes]:
    async for chunk in _aiter(self):
        if b"event: badge" in chunk:
            TRACE.write(f"yielded {time.time()}\n")
        yield chunk


Subscription._enqueue = enqueue  # type: ignore[method-assign]
InboxStream.aiter = aiter  # type: ignore[method-assign]
application = traced
