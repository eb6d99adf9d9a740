"""What iterating the storage yields for a persistent message: a notification seen as a message."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from inbox import shortcodes
from inbox.contrib.messages import constants

if TYPE_CHECKING:
    from inbox.models import Notification


class PersistentMessage:
    """Reads like ``django.contrib.messages``' ``Message`` (``level``, ``message``, ``tags``,
    ``extra_tags``, ``level_tag``, ``str()``), plus what a page needs to offer "mark read".

    ``level`` is the persistent level (``inbox_messages.WARNING``, 130). ``uid`` and ``pk`` are the
    notification's; both are None for a message an anonymous visitor's session holds until they
    sign in (there is nothing to mark read yet).

    ``message`` (and ``str()``) is the text as shown, shortcodes expanded, so a site's own
    ``{{ message }}`` loop shows what the kit's pages show; ``{{ message|inbox_message }}``
    (``{% load inbox %}``) gives the HTML.
    """

    is_persistent = True

    def __init__(
        self,
        level: int,
        message: str,
        extra_tags: str = "",
        *,
        subject: str = "",
        close_timeout: float | None = None,
        created: datetime | None = None,
        expires: datetime | None = None,
        is_read: bool = False,
        uid: Any = None,
        pk: int | None = None,
        url: str = "",
        notification: Notification | None = None,
    ) -> None:
        self.level = level
        self.message = message
        self.extra_tags = extra_tags
        self.subject = subject
        self.close_timeout = close_timeout
        self.created = created
        self.expires = expires
        self.is_read = is_read
        self.uid = uid
        self.pk = pk
        self.url = url
        self.notification = notification

    @classmethod
    def from_notification(cls, notification: Notification) -> PersistentMessage:
        extra = notification.extra if isinstance(notification.extra, dict) else {}
        return cls(
            constants.persistent_level(notification.level),
            shortcodes.expand_text(notification.message, {"notification": notification}),
            str(extra.get("extra_tags", "")),
            subject=str(extra.get("subject", "")),
            close_timeout=extra.get("close_timeout"),
            created=notification.sent_at,
            expires=notification.expires_at,
            is_read=notification.read_at is not None,
            uid=notification.uid,
            pk=notification.pk,
            url=notification.url,
            notification=notification,
        )

    @property
    def level_tag(self) -> str:
        return constants.level_tag(self.level)

    @property
    def tags(self) -> str:
        return " ".join(tag for tag in (self.extra_tags, self.level_tag) if tag)

    def __str__(self) -> str:
        return self.message

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PersistentMessage):
            return NotImplemented
        if self.uid is not None or other.uid is not None:
            return self.uid == other.uid
        return (self.level, self.message, self.extra_tags, self.subject, self.created) == (
            other.level, other.message, other.extra_tags, other.subject, other.created
        )

    def __hash__(self) -> int:
        return hash(self.uid) if self.uid is not None else hash((self.level, self.message, self.created))

    def __repr__(self) -> str:
        return f"PersistentMessage(level={self.level}, message={self.message!r}, uid={self.uid})"
