"""How many streams one session and one user may hold open, in this process.

One stream per browser is the design (tabs share it), so a few per session and a handful per
user cover every honest case. Past the session cap the session's oldest stream is closed (a
browser that reconnected before its old stream noticed); past the user cap a new stream is
refused with 429 (a script hammering with a stolen cookie). A stream opened with a token has no
session: only the user cap applies to it, counted with the user's session streams. The books are
per process: with several server processes a user may hold up to the cap in each.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

from inbox import conf
from inbox.sse.sessions import Owner


class Ticket:
    """One open stream's place in the books; ``release()`` when the stream ends (idempotent)."""

    def __init__(self, registry: Registry, owner: Owner) -> None:
        self.registry = registry
        self.owner = owner
        self.evicted = threading.Event()
        self._on_evict: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def on_evict(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when a newer stream of the same session takes this one's place."""
        with self._lock:
            self._on_evict = callback
            evicted = self.evicted.is_set()
        if evicted:
            callback()

    def evict(self) -> None:
        with self._lock:
            self.evicted.set()
            callback = self._on_evict
        if callback is not None:
            callback()

    def release(self) -> None:
        self.registry.release(self)


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_session: dict[str, list[Ticket]] = defaultdict(list)
        self._by_user: dict[str, list[Ticket]] = defaultdict(list)

    def admit(self, owner: Owner) -> Ticket | None:
        """A ticket for a new stream, or None when the user already holds the most allowed."""
        per_session = max(int(conf.get("SSE_MAX_STREAMS_PER_SESSION")), 1)
        per_user = max(int(conf.get("SSE_MAX_STREAMS_PER_USER")), 1)
        with self._lock:
            of_session = self._by_session.get(owner.session_key, []) if owner.session_key is not None else []
            oldest = of_session[0] if len(of_session) >= per_session else None
            if len(self._by_user.get(owner.user_pk, ())) - (oldest is not None) >= per_user:
                return None
            if oldest is not None:
                self._forget(oldest)
            ticket = Ticket(self, owner)
            if owner.session_key is not None:
                self._by_session[owner.session_key].append(ticket)
            self._by_user[owner.user_pk].append(ticket)
        if oldest is not None:
            oldest.evict()
        return ticket

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            self._forget(ticket)

    def _forget(self, ticket: Ticket) -> None:
        for books, key in ((self._by_session, ticket.owner.session_key), (self._by_user, ticket.owner.user_pk)):
            if key is None:  # a token stream: no session books
                continue
            tickets = books.get(key)
            if tickets is not None and ticket in tickets:
                tickets.remove(ticket)
                if not tickets:
                    del books[key]

    def open_streams(self, owner: Owner) -> tuple[int, int]:
        """(streams of this session, streams of this user): for tests and diagnostics (a token
        owner has no session: 0 for the first)."""
        with self._lock:
            of_session = self._by_session.get(owner.session_key, ()) if owner.session_key is not None else ()
            return len(of_session), len(self._by_user.get(owner.user_pk, ()))


registry = Registry()
