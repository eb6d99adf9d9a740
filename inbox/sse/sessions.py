"""Does the session that opened a stream still sign in the same, active user?

Checked when a stream opens, at every heartbeat and before every delivery, so a stream ends
within one heartbeat of a logout, a password change (the session auth hash changes), a
deactivation or the session's expiry, and a stolen cookie stops reading when its session ends.
The check reads like ``django.contrib.auth.get_user`` but changes nothing: no flush, no key
rotation, since the stream cannot send the browser a new cookie.

A stream opened with a token (``inbox.sse.tokens``) has no session: its owner carries the user
and a digest of the session auth hash the token was issued under, and it is checked by user —
still there, still active, same auth hash — at the same points and in the same batches.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from inbox.sse.batching import TickBatcher
from inbox.sse.db import healthy


@dataclasses.dataclass(frozen=True)
class Owner:
    """Who a stream belongs to: the session it was opened with and the user it signed in, or, for
    a stream opened with a token (``session_key`` None), the user and ``auth_digest`` (see
    :func:`auth_digest`) of the session auth hash the token was issued under."""

    session_key: str | None
    user_pk: str
    auth_digest: str = ""

    @classmethod
    def for_token(cls, user_pk: str, auth_digest: str) -> Owner:
        return cls(session_key=None, user_pk=user_pk, auth_digest=auth_digest)


def owner_of(request: Any) -> Owner | None:
    """None for a stream without a session user (a custom resolver): nothing to re-check."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or not user.is_authenticated or session is None or not session.session_key:
        return None
    return Owner(session_key=session.session_key, user_pk=str(user.pk))


def signed_in(owner: Owner) -> bool:
    """Whether ``owner``'s session still exists, is unexpired and signs in the same active user."""
    return signed_in_all([owner])[owner]


@healthy
def signed_in_all(owners: Iterable[Owner]) -> dict[Owner, bool]:
    """``signed_in`` for many streams at once: a broadcast wakes a thousand of them together, so
    sessions and users are read in one query each where the engine and backend allow it (and the
    users of token streams in one more query, only when there are any)."""
    owners = list(owners)
    by_token = [owner for owner in owners if owner.session_key is None]
    result = _sessions_signed_in([owner for owner in owners if owner.session_key is not None])
    if by_token:
        users = token_users(by_token)
        result.update({owner: users[owner] is not None for owner in by_token})
    return result


def _sessions_signed_in(owners: list[Owner]) -> dict[Owner, bool]:
    if not owners:
        return {}
    sessions = _sessions({owner.session_key for owner in owners if owner.session_key is not None})
    wanted: dict[str, set[str]] = {}
    for owner in owners:
        data = sessions.get(owner.session_key or "", {})
        if str(data.get(SESSION_KEY)) == owner.user_pk and data.get(BACKEND_SESSION_KEY) in settings.AUTHENTICATION_BACKENDS:
            wanted.setdefault(data[BACKEND_SESSION_KEY], set()).add(owner.user_pk)
    users = {path: _users(path, ids) for path, ids in wanted.items()}
    result = {}
    for owner in owners:
        data = sessions.get(owner.session_key or "", {})
        user = users.get(data.get(BACKEND_SESSION_KEY, ""), {}).get(owner.user_pk)
        result[owner] = user is not None and str(data.get(SESSION_KEY)) == owner.user_pk and _hash_matches(user, data)
    return result


def _sessions(keys: set[str]) -> dict[str, dict[str, Any]]:
    """Each session's data; missing, expired or signed-out sessions are absent or empty."""
    engine = import_module(settings.SESSION_ENGINE)
    store_class = engine.SessionStore
    if issubclass(store_class, DatabaseSessionStore) and len(keys) > 1:
        # The database (and cached_db, which writes through) engine: one query for every session.
        model = store_class.get_model_class()
        rows = model.objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
        signing = (settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS), settings.SESSION_SERIALIZER)
        # Bare values, no model instances: a broadcast reads thousands of sessions per delivery.
        return {key: _decoded(store_class, data, signing) for key, data in rows.values_list("session_key", "session_data")}
    return {key: store_class(key).load() for key in keys}


@functools.lru_cache(maxsize=16_384)
def _decoded(store_class: type[DatabaseSessionStore], data: str, signing: tuple[Any, ...]) -> dict[str, Any]:
    """A session's data, decoded (its signature checked) once for as long as it stays unchanged:
    every delivery re-reads each session, and a broadcast wakes thousands. Keyed by the stored
    data itself and by everything decoding depends on (the keys and the serializer). Read-only."""
    return store_class().decode(data)


def _users(backend_path: str, ids: set[str]) -> dict[str, Any]:
    """The active users among ``ids``, as ``backend.get_user`` would return them."""
    backend = load_backend(backend_path)
    if isinstance(backend, ModelBackend) and type(backend).get_user is ModelBackend.get_user and len(ids) > 1:
        found = _checkable_users(backend).in_bulk(list(ids))
        return {str(pk): user for pk, user in found.items() if backend.user_can_authenticate(user)}
    users = {user_id: backend.get_user(user_id) for user_id in ids}
    return {user_id: user for user_id, user in users.items() if user is not None}


def _checkable_users(backend: ModelBackend) -> Any:
    """The user model's rows with what the check reads: with Django's own auth hash and
    ``user_can_authenticate``, only the password and ``is_active`` (a broadcast checks thousands
    of users per delivery: no dates to convert); with a site's own, every field."""
    model = get_user_model()
    manager = model._default_manager
    if (getattr(model, "get_session_auth_hash", None) is not AbstractBaseUser.get_session_auth_hash
            or type(backend).user_can_authenticate is not ModelBackend.user_can_authenticate):
        return manager.all()
    names = {field.name for field in model._meta.concrete_fields}
    return manager.only(*[name for name in ("password", "is_active") if name in names])


def _hash_matches(user: Any, data: dict[str, Any]) -> bool:
    if not getattr(user, "is_active", True):
        return False
    if not hasattr(user, "get_session_auth_hash"):
        return True
    stored = data.get(HASH_SESSION_KEY) or ""
    if constant_time_compare(stored, _session_auth_hash(user)):
        return True
    # A rotated SECRET_KEY must not sign everyone out mid-stream: Django accepts the fallbacks too.
    return any(constant_time_compare(stored, fallback) for fallback in user.get_session_auth_fallback_hash())


def _session_auth_hash(user: Any) -> str:
    """``user.get_session_auth_hash()``; Django's own depends only on the password (hash) and
    SECRET_KEY, so for users that keep it, it is computed once per password (an HMAC per user
    per delivery adds up over a broadcast)."""
    if getattr(type(user), "get_session_auth_hash", None) is AbstractBaseUser.get_session_auth_hash:
        model: type[AbstractBaseUser] = type(user)
        return _password_auth_hash(model, user.password, settings.SECRET_KEY)
    return str(user.get_session_auth_hash())


@functools.lru_cache(maxsize=16_384)
def _password_auth_hash(model: type[AbstractBaseUser], password: str, secret_key: str) -> str:
    return model(password=password).get_session_auth_hash()


# -- streams opened with a token: checked by user, with no session ----------------------------------


def auth_digest(auth_hash: str) -> str:
    """What a token carries of its user's session auth hash: a digest, so the hash itself never
    travels in a URL. (The hash is keyed with SECRET_KEY: knowing the digest reveals nothing.)"""
    return hashlib.sha256(f"inbox.sse.tokens.auth:{auth_hash}".encode()).hexdigest()[:32]


def current_auth_digest(user: Any) -> str:
    """The digest a token for ``user`` carries now; "" for a user model without an auth hash."""
    if not hasattr(user, "get_session_auth_hash"):
        return ""
    return auth_digest(user.get_session_auth_hash())


def token_users(owners: Iterable[Owner]) -> dict[Owner, Any | None]:
    """For each token owner, its user if that user still exists, is active and has the auth hash
    the token was issued under (or a SECRET_KEY_FALLBACKS one, as Django accepts); else None.
    One query for all of them."""
    owners = list(owners)
    found = _users_by_pk({owner.user_pk for owner in owners})
    result: dict[Owner, Any | None] = {}
    for owner in owners:
        user = found.get(owner.user_pk)
        result[owner] = user if user is not None and _digest_matches(user, owner.auth_digest) else None
    return result


def _users_by_pk(ids: set[str]) -> dict[str, Any]:
    """The users among ``ids`` (primary keys as strings), by that string; ids the user model's
    primary key cannot take are skipped, not an error."""
    model = get_user_model()
    valid = set()
    for user_id in ids:
        try:
            model._meta.pk.to_python(user_id)
        except (ValidationError, ValueError, TypeError):
            continue
        valid.add(user_id)
    if not valid:
        return {}
    found = model._default_manager.in_bulk(list(valid))
    return {str(pk): user for pk, user in found.items()}


def _digest_matches(user: Any, digest: str) -> bool:
    if not getattr(user, "is_active", True):
        return False
    if not hasattr(user, "get_session_auth_hash"):
        return True
    if constant_time_compare(digest, auth_digest(user.get_session_auth_hash())):
        return True
    return any(constant_time_compare(digest, auth_digest(fallback)) for fallback in user.get_session_auth_fallback_hash())


class SessionChecks(TickBatcher["Owner", bool]):
    """The session (or token user) checks of every stream woken in the same tick, in one thread hop."""

    def read(self, keys: list[Owner]) -> dict[Owner, bool]:
        return signed_in_all(keys)

    async def signed_in(self, owner: Owner) -> bool:
        return await self.ask(owner)


def checks() -> SessionChecks:
    batcher = SessionChecks.for_loop()
    assert isinstance(batcher, SessionChecks)
    return batcher
