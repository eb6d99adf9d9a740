"""From a message to a notification: ``create_message`` and the mapping onto ``notifier.send``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

from inbox import shortcodes
from inbox.contrib.messages import constants

if TYPE_CHECKING:
    from inbox.models import Notification


def template_of(text: str) -> str:
    """``text`` as a ``notifier.send`` template that shows exactly ``text``: braces doubled, and
    brackets escaped so that a message's text (a reply is a user's) never forms a shortcode."""
    return shortcodes.escape(text).replace("{", "{{").replace("}", "}}")


def extra_of(*, subject: str = "", extra_tags: str = "", close_timeout: float | None = None) -> dict[str, Any]:
    """What a message has beyond a notification's fields; only the parts that are set."""
    extra: dict[str, Any] = {}
    if subject:
        extra["subject"] = str(subject)
    if extra_tags:
        extra["extra_tags"] = str(extra_tags)
    if close_timeout is not None:
        if isinstance(close_timeout, bool) or not isinstance(close_timeout, (int, float)) or close_timeout < 0:
            raise ValueError(f"close_timeout must be a number of seconds, 0 or more, not {close_timeout!r}.")
        extra["close_timeout"] = close_timeout
    return extra


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
    parent: Notification | None = None,
    now: datetime | None = None,
) -> Notification | None:
    """Store a message in ``to_user``'s inbox, with no request: from a task, a command, a signal.

    ``level`` is a persistent level or a Django one (both are stored as the kit's ``Level``).
    The text is stored exactly as given (never read as a template); ``subject``, ``extra_tags``
    and ``close_timeout`` go in ``extra``; ``from_user`` is the actor; ``email=True`` also
    delivers it through the "email" channel. ``sse=False`` stores it without updating the person's
    open pages (no toast, no badge refresh until their next page). ``url`` is where the message
    points (its toast's and inbox row's link; visiting it reads the message with
    ``MESSAGES_READ_ON_VISIT``); ``parent`` is the message of a conversation it answers.
    Returns the notification, or None when there was nothing to store (empty text, or
    ``expires`` already past).
    """
    from inbox.services import notifier

    text = str(message)
    now = now or timezone.now()
    if not text or (expires is not None and expires <= now):
        return None
    sent = notifier.send(
        template_of(text),
        [to_user],
        actor=from_user,
        category=constants.CATEGORY,
        level=constants.kit_level(level),
        extra=extra_of(subject=subject, extra_tags=extra_tags, close_timeout=close_timeout),
        expires_at=expires,
        now=now,
        url=url,
        parent=parent,
        # None lets a site give the "messages" category default channels of its own.
        channels=("email",) if email else None,
        announce=bool(sse),
    )
    return sent[0] if sent else None


#: The longest reply the detail page's form accepts, in characters.
MAX_REPLY_LENGTH = 5000


def conversation_root(notification: Notification) -> int:
    """The pk every message of ``notification``'s conversation hangs from (the first message)."""
    return notification.parent_id or notification.pk


def can_reply(notification: Notification, user: Any) -> bool:
    """A message from an active user, read by a signed-in one, can be answered."""
    from django.contrib.auth import get_user_model

    sender = notification.actor
    return (
        notification.category == constants.CATEGORY
        and getattr(user, "is_authenticated", False)
        and isinstance(sender, get_user_model())
        and getattr(sender, "is_active", True)
    )


def reply(notification: Notification, from_user: models.Model, text: str) -> Notification | None:
    """Answer ``notification`` (a message to ``from_user``) with ``text``, to the person who sent it.

    The reply is a message in the sender's inbox, from ``from_user``, in the same conversation:
    its parent is the conversation's first message, so both people's detail pages show it (if
    that message was deleted, the reply starts a conversation of its own).
    """
    from inbox.models import Notification as NotificationModel

    extra = notification.extra if isinstance(notification.extra, dict) else {}
    sender = notification.actor
    if not isinstance(sender, models.Model):
        raise ValueError("Only a message with a sender (from_user) can be answered.")
    root = NotificationModel.objects.filter(pk=conversation_root(notification)).first()
    return create_message(
        sender,
        constants.INFO,
        text,
        from_user=from_user,
        subject=str(extra.get("subject", "")),
        parent=root,
    )
