"""Persistent ``django.contrib.messages``: levels that become inbox notifications.

    MESSAGE_STORAGE = "inbox.contrib.messages.storage.PersistentStorage"

    from django.contrib import messages
    from inbox.contrib import messages as inbox_messages

    messages.add_message(request, inbox_messages.WARNING, "Stored until read.")
    inbox_messages.create_message(user, inbox_messages.INFO, "Your export is ready.")

See docs/messages.md. Nothing here imports a model at import time (this package is also an app).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.messages.api import MessageFailure

from inbox.contrib.messages.constants import (
    DEBUG,
    ERROR,
    INFO,
    PERSISTENT_LEVELS,
    SUCCESS,
    WARNING,
    is_persistent,
)

if TYPE_CHECKING:
    from django.db import models
    from django.http import HttpRequest

    from inbox.models import Notification

__all__ = [
    "DEBUG",
    "ERROR",
    "INFO",
    "PERSISTENT_LEVELS",
    "SUCCESS",
    "WARNING",
    "MessageFailure",
    "add_message",
    "create_message",
    "is_persistent",
]


def add_message(
    request: HttpRequest,
    level: int,
    message: Any,
    extra_tags: str = "",
    fail_silently: bool = False,
    subject: str = "",
    user: models.Model | None = None,
    email: bool = False,
    from_user: models.Model | None = None,
    expires: datetime | None = None,
    close_timeout: float | None = None,
    *,
    url: str = "",
) -> None:
    """``messages.add_message`` with the persistent options (they apply to persistent levels).

    ``user`` stores the message in another person's inbox: that needs no message storage, so it
    works whatever ``MESSAGE_STORAGE`` is. Otherwise the request needs ``MessageMiddleware``
    (``MessageFailure`` without it, unless ``fail_silently``), and a persistent level needs
    ``PersistentStorage``.
    """
    from inbox.contrib.messages.storage import PersistentStorage

    storage = getattr(request, "_messages", None)
    if isinstance(storage, PersistentStorage):
        storage.add(
            level, message, extra_tags, subject=subject, user=user, email=email,
            from_user=from_user, expires=expires, close_timeout=close_timeout, url=url,
        )
        return
    if user is not None and is_persistent(int(level)):
        create_message(
            user, level, message, from_user=from_user, extra_tags=extra_tags, subject=subject,
            expires=expires, close_timeout=close_timeout, email=email, url=url,
        )
        return
    if storage is None:
        if not hasattr(request, "META"):
            raise TypeError(
                "add_message() argument must be an HttpRequest object, not "
                f"'{request.__class__.__name__}'."
            )
        if not fail_silently:
            raise MessageFailure(
                "You cannot add messages without installing django.contrib.messages.middleware.MessageMiddleware"
            )
        return
    if is_persistent(int(level)):
        if not fail_silently:
            raise MessageFailure(
                "Persistent levels need MESSAGE_STORAGE = 'inbox.contrib.messages.storage.PersistentStorage'."
            )
        return
    storage.add(level, message, extra_tags)


def create_message(
    to_user: models.Model,
    level: int,
    message: Any,
    from_user: models.Model | None = None,
    extra_tags: str = "",
    subject: str = "",
    expires: datetime | None = None,
    close_timeout: float | None = None,
    sse: bool = True,
    email: bool = False,
    *,
    url: str = "",
) -> Notification | None:
    """Store a message in ``to_user``'s inbox from anywhere (no request); see :mod:`.sending`."""
    from inbox.contrib.messages import sending

    return sending.create_message(
        to_user, level, message, from_user=from_user, extra_tags=extra_tags, subject=subject,
        expires=expires, close_timeout=close_timeout, sse=sse, email=email, url=url,
    )
