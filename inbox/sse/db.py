"""Django's connection-health handling for database work done outside a request.

Django closes unusable or too-old connections when a request starts and ends. A stream, or
the ASGI mount, reads the database long after (or without) that: a connection PostgreSQL
dropped (restart, failover) would fail every later read. So each read is wrapped the way a
request is, in the thread that runs it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")


def close_old_connections() -> None:
    # As django.db.close_old_connections, but never inside a transaction someone else opened
    # (a test case, ATOMIC_REQUESTS around a view): that connection is its owner's to manage.
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def healthy(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` between two connection-health checks, like a request's lifetime."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return wrapper
