"""``MESSAGE_STORAGE = "inbox.contrib.messages.storage.PersistentStorage"``.

Django's levels keep Django's behaviour (:class:`FallbackStorage`: a cookie, then the session).
The persistent levels of :mod:`inbox.contrib.messages.constants` become notifications in the
signed-in person's inbox, and stay on every page until they are read there; an anonymous
visitor's are held in the session and moved into their inbox when they sign in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.fallback import FallbackStorage
from django.db import models
from django.db.models import Q
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone

from inbox import conf
from inbox.contrib.messages import constants, pending
from inbox.contrib.messages.message import PersistentMessage
from inbox.contrib.messages.sending import create_message

if TYPE_CHECKING:
    from inbox.querysets import NotificationQuerySet

# Connected here as well as by the app's ready(): a site that sets MESSAGE_STORAGE without adding
# the app still moves a visitor's messages at login (the middleware imports this module first).
pending.connect()

AnyMessage = Message | PersistentMessage


class PersistentStorage(FallbackStorage):
    """Django's ``FallbackStorage`` for Django's levels; the inbox for the persistent ones."""

    # BaseStorage's own attributes, which django-stubs leaves out.
    _loaded_messages: list[Message]
    _queued_messages: list[Message]

    #: Unread persistent messages read per request, newest kept; a count past it is one COUNT.
    max_unread = 100
    #: Read and unread persistent messages ``get_persistent()`` returns, newest kept.
    max_persistent = 100

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self._unread_cache: tuple[Any, list[PersistentMessage]] | None = None

    # -- adding -----------------------------------------------------------------------------------

    def add(  # type: ignore[override]
        self,
        level: int,
        message: Any,
        extra_tags: str = "",
        *,
        subject: str = "",
        user: models.Model | None = None,
        email: bool = False,
        from_user: models.Model | None = None,
        expires: datetime | None = None,
        close_timeout: float | None = None,
        url: str = "",
    ) -> None:
        """Django's ``add``; a persistent level goes to ``user`` (default: the signed-in person).

        The keyword arguments only mean something for a persistent level; a Django level ignores
        them, as Django's own storages would not know them.
        """
        if not constants.is_persistent(int(level)):
            super().add(level, message, extra_tags)
            return
        if not message or int(constants.kit_level(int(level))) < self.level:
            return  # what Django does with an empty message or one under MESSAGE_LEVEL
        text = str(message)
        recipient = user if user is not None else self._user()
        if recipient is None:
            pending.add(
                self.request.session,  # FallbackStorage already insists on SessionMiddleware
                int(level),
                text,
                extra_tags=extra_tags or "",
                subject=subject,
                expires=expires,
                close_timeout=close_timeout,
                email=email,
                from_user=from_user,
                url=url,
            )
        else:
            create_message(
                recipient,
                int(level),
                text,
                from_user=from_user,
                extra_tags=extra_tags or "",
                subject=subject,
                expires=expires,
                close_timeout=close_timeout,
                email=email,
                url=url,
            )
        self.forget_persistent()

    # -- reading ----------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[AnyMessage]:  # type: ignore[override]
        """Persistent messages (unread, oldest first), then Django's; only Django's are used up."""
        persistent = self.get_persistent_unread()
        return iter([*persistent, *super().__iter__()])

    def __len__(self) -> int:
        return self.count_unread()

    def __contains__(self, item: object) -> bool:
        if isinstance(item, PersistentMessage):
            return item in self.get_persistent_unread()
        return super().__contains__(item)

    def get_persistent(self) -> list[PersistentMessage]:
        """Read and unread persistent messages, unexpired, oldest first (the newest ``max_persistent``)."""
        user = self._user()
        if user is None:
            return pending.load(self.request.session)
        rows = self._queryset(user)[: self.max_persistent]
        return [PersistentMessage.from_notification(n) for n in reversed(list(rows))]

    def get_persistent_unread(self) -> list[PersistentMessage]:
        """Unread persistent messages, unexpired, oldest first: read once per request (one query)."""
        user = self._user()
        key = None if user is None else user.pk
        if self._unread_cache is None or self._unread_cache[0] != key:
            if user is None:
                found = pending.load(self.request.session)
            else:
                rows = self._queryset(user).unread()[: self.max_unread]
                found = [PersistentMessage.from_notification(n) for n in reversed(list(rows))]
            self._unread_cache = (key, found)
        return list(self._unread_cache[1])

    def get_nonpersistent(self) -> list[Message]:
        """Django's messages of this request; like iterating, this uses them up."""
        return list(super().__iter__())

    def count_unread(self) -> int:
        return self.count_persistent_unread() + self.count_nonpersistent()

    def count_persistent_unread(self) -> int:
        """From the messages this request reads anyway: no extra query below ``max_unread``."""
        shown = self.get_persistent_unread()
        user = self._user()
        if user is None or len(shown) < self.max_unread:
            return len(shown)
        return self._queryset(user).unread().count()

    def count_nonpersistent(self) -> int:
        return len(self._loaded_messages) + len(self._queued_messages)

    def forget_persistent(self) -> None:
        """Read the persistent messages again on next use (after one was added, read or moved)."""
        self._unread_cache = None

    # -- read on visit ------------------------------------------------------------------------------

    def update(self, response: HttpResponseBase) -> Any:
        """Django's ``update`` (store the unused messages), then read what this page was about."""
        result = super().update(response)
        if conf.get("MESSAGES_READ_ON_VISIT") and self.request.method == "GET" and response.status_code < 400:
            self.read_on_visit()
        return result

    def read_on_visit(self) -> int:
        """Mark read the signed-in person's unread messages whose ``url`` is this page; how many.

        From the list this request already read, with no query; otherwise one UPDATE (through the
        unread index), and the read is announced like any other.
        """
        user = self._user()
        if user is None:
            return 0
        from inbox.services import manager

        here = {self.request.path, self.request.get_full_path()}
        unread = self._queryset(user).unread()
        if self._unread_cache is not None and self._unread_cache[0] == user.pk and (
            len(self._unread_cache[1]) < self.max_unread
        ):
            uids = [m.uid for m in self._unread_cache[1] if m.uid is not None and m.url in here]
            if not uids:
                return 0
            unread = unread.filter(uid__in=uids)
        else:
            unread = unread.filter(url__in=here)
        count = manager.mark_read(unread)
        if count:
            self.forget_persistent()
        return count

    # -- helpers ----------------------------------------------------------------------------------

    def _user(self) -> models.Model | None:
        user = getattr(self.request, "user", None)
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        return user

    def _queryset(self, user: models.Model) -> NotificationQuerySet:
        from inbox.models import Notification

        now = timezone.now()
        return (
            Notification.objects.recipients([user])
            .visible()
            .filter(category=constants.CATEGORY)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .order_by("-sent_at", "-id")
        )
