"""Does the session that opened a stream still sign in the same, active user?

Checked when a stream opens, at every heartbeat and before every delivery, so a stream ends
within one heartbeat of a logout, a password change (the session auth hash changes), a
deactivation or the session's expiry, and a stolen cookie stops reading when its session ends.
The check reads like ``django.contrib.auth.get_user`` but changes nothing: no flush, no key
rotation, since the stream cannot send the browser a new cookie.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.utils.crypto import constant_time_compare

from inbox.sse.batching import TickBatcher
from inbox.sse.db import healthy


@dataclasses.dataclass(frozen=True)
class Owner:
    """The session a stream was opened with, and the user it signed in."""

    session_key: str
    user_pk: str


def owner_of(request: Any) -> Owner | None:
    """None for a stream without a session user (a custom resolver): nothing to re-check."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or not user.is_authenticated or session is None or not session.session_key:
        return None
    return Owner(session_key=session.session_key, user_pk=str(user.pk))


def signed_in(owner: Owner) -> bool:
    """Whether ``owner``'s session still exists, is unexpired and signs in the same active user."""
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore(owner.session_key)
    try:
        user_id, backend_path = session[SESSION_KEY], session[BACKEND_SESSION_KEY]
    except KeyError:  # gone, expired or signed out: the store loads as empty
        return False
    if str(user_id) != owner.user_pk or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    backend = load_backend(backend_path)
    user = backend.get_user(user_id)
    if user is None or not getattr(user, "is_active", True):
        return False
    if not hasattr(user, "get_session_auth_hash"):
        return True
    stored = session.get(HASH_SESSION_KEY) or ""
    if constant_time_compare(stored, user.get_session_auth_hash()):
        return True
    # A rotated SECRET_KEY must not sign everyone out mid-stream: Django accepts the fallbacks too.
    return any(constant_time_compare(stored, fallback) for fallback in user.get_session_auth_fallback_hash())


@healthy
def signed_in_all(owners: Iterable[Owner]) -> dict[Owner, bool]:
    return {owner: signed_in(owner) for owner in owners}


class SessionChecks(TickBatcher["Owner", bool]):
    """The session checks of every stream woken in the same tick, in one thread hop."""

    def read(self, keys: list[Owner]) -> dict[Owner, bool]:
        return signed_in_all(keys)

    async def signed_in(self, owner: Owner) -> bool:
        return await self.ask(owner)


def checks() -> SessionChecks:
    batcher = SessionChecks.for_loop()
    assert isinstance(batcher, SessionChecks)
    return batcher
