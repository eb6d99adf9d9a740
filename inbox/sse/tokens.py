"""Short-lived signed tokens that open the event stream without a session cookie.

``EventSource`` cannot send headers, and a native app has no session cookie: both ask for a token
(the API's ``POST stream-token/`` calls :func:`issue`) and open ``inbox:events?token=...``.

A token is signed with ``SECRET_KEY`` under a salt of its own (``SECRET_KEY_FALLBACKS`` verify
too, while keys rotate), names the user's primary key and a digest of their session auth hash,
and opens a stream for ``INBOX["STREAM_TOKEN_MAX_AGE"]`` seconds after it was issued. A forged,
expired or malformed token, or one whose user is gone, inactive or has changed password since,
opens nothing. The token's age only governs opening: an open stream then lives while its user
stays active with the same auth hash, re-checked (by user, no session) at every heartbeat and
before every delivery, like a session stream.
"""

from __future__ import annotations

import copy
import dataclasses
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core import signing

from inbox import conf
from inbox.sse.sessions import Owner, current_auth_digest, token_users

#: The signing salt: no other signed value of the site (a cookie, a reset link) reads as a token.
SALT = "inbox.sse.tokens.stream"
#: Longer strings are refused before any cryptography (a real token is about 100 characters).
MAX_LENGTH = 1024


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a valid token opens: a stream for ``user``, re-checked as ``owner``."""

    user: Any
    owner: Owner


def max_age() -> int:
    """Seconds a token may be used to open a stream (``INBOX["STREAM_TOKEN_MAX_AGE"]``)."""
    return int(conf.get("STREAM_TOKEN_MAX_AGE"))


def issue(user: Any) -> str:
    """A token that opens ``user``'s event stream for the next ``max_age()`` seconds.

    Raises ValueError for an anonymous, unsaved or inactive user: there is no stream to open.
    """
    if not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        raise ValueError("Stream tokens are for signed-in users.")
    if not getattr(user, "is_active", True):
        raise ValueError("An inactive user gets no stream token.")
    return signing.dumps([str(user.pk), current_auth_digest(user)], salt=SALT)


def read(token: object) -> Grant | None:
    """The user ``token`` opens a stream for, or None: forged, expired, malformed (any type, any
    size), or its user deleted, inactive or with another password since. One query at most."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_LENGTH:
        return None
    try:
        payload = signing.loads(token, salt=SALT, max_age=max_age())
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(payload, list) and len(payload) == 2 and all(isinstance(part, str) for part in payload)):
        return None
    owner = Owner.for_token(user_pk=payload[0], auth_digest=payload[1])
    user = token_users([owner])[owner]
    return Grant(user=user, owner=owner) if user is not None else None


def request_as(request: Any, user: Any) -> Any:
    """A copy of ``request`` as the token's ``user`` makes it, for the recipients resolver: its
    ``user`` (and ``auser()``) is that user, and its session is empty, with no key and nothing
    signed in, whatever cookie came along. The original request is left as it was (its session
    middleware still sees the browser's own session untouched)."""
    clone = copy.copy(request)
    for cached in ("_inbox_recipients", "_cached_user", "_acached_user"):
        clone.__dict__.pop(cached, None)
    clone.user = user

    async def auser() -> Any:
        return user

    clone.auser = auser
    clone.session = import_module(settings.SESSION_ENGINE).SessionStore()
    return clone
