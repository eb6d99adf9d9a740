"""Persistent messages for a visitor who is not signed in: held in their session, moved at login.

An anonymous visitor has no inbox, so a persistent level added for one is kept in their session
(at most ``MAX_PENDING``, the oldest dropped first) and shown with their other messages; when
they sign in, ``user_logged_in`` moves them into that person's inbox as notifications.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.contrib.messages import constants
from inbox.contrib.messages.message import PersistentMessage
from inbox.contrib.messages.sending import create_message, extra_of
from inbox.exceptions import NotificationError
from inbox.formatting import check_length
from inbox.links import is_allowed_link

logger = logging.getLogger(__name__)

SESSION_KEY = "_inbox_pending_messages"
MAX_PENDING = 50


def add(
    session: Any,
    level: int,
    text: str,
    *,
    extra_tags: str = "",
    subject: str = "",
    expires: datetime | None = None,
    close_timeout: float | None = None,
    email: bool = False,
    from_user: models.Model | None = None,
    url: str = "",
    now: datetime | None = None,
) -> None:
    """Hold one persistent message in ``session`` until its visitor signs in."""
    now = now or timezone.now()
    if expires is not None and expires <= now:
        return
    # The checks a signed-in person's message gets when it is stored, now rather than at login.
    check_length(text)
    extra_of(close_timeout=close_timeout)
    if url and not is_allowed_link(url):
        raise NotificationError(_("url must be a path on this site or an http(s) URL to an allowed host."))
    entry = {
        "level": constants.persistent_level(level),
        "message": text,
        "extra_tags": str(extra_tags or ""),
        "subject": str(subject or ""),
        "close_timeout": close_timeout,
        "created": now.isoformat(),
        "expires": expires.isoformat() if expires is not None else None,
        "email": bool(email),
        "from": _reference(from_user),
        "url": str(url or ""),
    }
    entries = [*_live_entries(session, now), entry]
    session[SESSION_KEY] = entries[-MAX_PENDING:]


def load(session: Any, now: datetime | None = None) -> list[PersistentMessage]:
    """The session's unexpired pending messages, oldest first."""
    return [_message(entry) for entry in _live_entries(session, now or timezone.now())]


def move(session: Any, user: models.Model) -> int:
    """Store the session's pending messages in ``user``'s inbox and forget them; returns how many.

    It runs inside a login, which must never fail because of it: a message that cannot be stored
    (the settings changed since it was added, say) is logged and dropped.
    """
    now = timezone.now()
    entries = _live_entries(session, now)
    moved = 0
    for entry in entries:
        try:
            with transaction.atomic():
                sent = _store(entry, user, now)
        except (NotificationError, ValueError, TypeError):
            logger.exception("A message held in the session could not be stored; it was dropped.")
            continue
        moved += sent is not None
    if SESSION_KEY in session:
        del session[SESSION_KEY]
    return moved


def _store(entry: dict[str, Any], user: models.Model, now: datetime) -> Any:
    return create_message(
        user,
        entry["level"],
        str(entry["message"]),
        from_user=_resolve(entry.get("from")),
        extra_tags=str(entry["extra_tags"]),
        subject=str(entry["subject"]),
        expires=_parse(entry["expires"]),
        close_timeout=entry["close_timeout"],
        email=bool(entry["email"]),
        url=str(entry.get("url") or ""),
        now=now,
    )


def move_on_login(sender: Any, request: Any, user: models.Model, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: the visitor's pending messages become their notifications."""
    session = getattr(request, "session", None)
    if session is None or user is None or not session.get(SESSION_KEY):
        return
    move(session, user)
    storage = getattr(request, "_messages", None)
    forget = getattr(storage, "forget_persistent", None)
    if forget is not None:
        forget()  # this request's storage re-reads them from the inbox


def connect() -> None:
    user_logged_in.connect(move_on_login, dispatch_uid="inbox.contrib.messages.pending.move_on_login")


# -- the session's entries ----------------------------------------------------------------------

_FIELDS = {"level", "message", "extra_tags", "subject", "close_timeout", "created", "expires", "email"}


def _live_entries(session: Any, now: datetime) -> list[dict[str, Any]]:
    entries = session.get(SESSION_KEY) or []
    if not isinstance(entries, list):
        return []
    live = []
    for entry in entries:
        if not isinstance(entry, dict) or not _FIELDS <= set(entry):
            continue
        try:
            constants.persistent_level(entry["level"])
            expires = _parse(entry["expires"])
        except (TypeError, ValueError):
            continue
        if expires is None or expires > now:
            live.append(entry)
    return live


def _message(entry: dict[str, Any]) -> PersistentMessage:
    return PersistentMessage(
        int(entry["level"]),
        str(entry["message"]),
        str(entry["extra_tags"]),
        subject=str(entry["subject"]),
        close_timeout=entry["close_timeout"],
        created=_parse(entry["created"]),
        expires=_parse(entry["expires"]),
        url=str(entry.get("url") or ""),
    )


def _parse(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"not a date: {value!r}")
    return datetime.fromisoformat(value)


def _reference(obj: models.Model | None) -> list[Any] | None:
    if obj is None or obj.pk is None:
        return None
    return [ContentType.objects.get_for_model(obj).pk, str(obj.pk)]


def _resolve(reference: Any) -> models.Model | None:
    """The object a reference names, or None if it is malformed or no longer exists."""
    if not isinstance(reference, list) or len(reference) != 2:
        return None
    try:
        model = ContentType.objects.get_for_id(reference[0]).model_class()
        if model is None:
            return None
        return model._default_manager.filter(pk=reference[1]).first()
    except (ContentType.DoesNotExist, ValueError, TypeError):
        return None
