"""Who is acting: the signed-in user of the request being served, for rules whose trigger names no actor.

Optional. Add it after Django's ``AuthenticationMiddleware``::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "inbox.contrib.rules.middleware.CurrentUserMiddleware",
    ]

A rule's ``actor`` is then the signed-in user of the request that saved the object. Outside a request
(a management command, a task) there is none, unless the code says who acts::

    from inbox.contrib.rules.middleware import acting_as

    with acting_as(user):
        project.save()

``INBOX["RULES_ACTOR_RESOLVER"]`` names the function asked (default :func:`current_user`); a site with its
own notion of "current user" points it at a function of its own, taking no arguments.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

_request: contextvars.ContextVar[Any] = contextvars.ContextVar("inbox_rules_request", default=None)
_actor: contextvars.ContextVar[Any] = contextvars.ContextVar("inbox_rules_actor", default=None)


class CurrentUserMiddleware:
    """Remembers the request being served (in a context variable, so threads and async tasks each see their own)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self.__acall__(request)
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)

    async def __acall__(self, request: Any) -> Any:
        token = _request.set(request)
        try:
            return await self.get_response(request)
        finally:
            _request.reset(token)


@contextlib.contextmanager
def acting_as(user: Any) -> Iterator[None]:
    """Inside this block, rules see ``user`` as the actor (where the trigger names none)."""
    token = _actor.set(user)
    try:
        yield
    finally:
        _actor.reset(token)


def current_user() -> Any:
    """The user set by :func:`acting_as`, else the signed-in user of the current request, else None."""
    actor = _actor.get()
    if actor is not None:
        return actor
    request = _request.get()
    if request is None:
        return None
    user = getattr(request, "user", None)  # resolves Django's lazy user: one query, once per request
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user
