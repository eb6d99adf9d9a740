"""Publishing "recipient changed" events after commit, through the configured broker."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sized
from functools import cache
from typing import Union

from django.db import transaction

from inbox import conf
from inbox.events.base import Broker, Event, Subscription, describe

__all__ = ["Broker", "Event", "Events", "Subscription", "describe", "get_broker", "publish_on_commit", "reset_broker"]

logger = logging.getLogger("inbox.events")

#: What ``publish_on_commit`` takes: events, or a callable that makes them after commit.
Events = Union[Iterable[Event], Callable[[], Iterable[Event]]]


@cache
def get_broker() -> Broker:
    broker_class = conf.load(conf.get("BROKER"))
    return broker_class(**conf.get("BROKER_OPTIONS"))


def reset_broker() -> None:
    """Forget the configured broker (after a settings change), closing its connections first."""
    if get_broker.cache_info().currsize:
        close = getattr(get_broker(), "close", None)
        if callable(close):
            close()
    get_broker.cache_clear()


def publish_on_commit(events: Events, *, using: str | None = None) -> None:
    """Publish once the surrounding transaction commits; a rollback publishes nothing.

    ``events`` is an iterable of events, or a zero-argument callable returning one. A callable
    is called once, after commit, and its events are consumed lazily in bounded chunks, so a
    broadcast to 200,000 recipients never holds 200,000 events (pass a generator that reads the
    inserted rows in batches).
    """
    if callable(events):
        make: Callable[[], Iterable[Event]] = events
    elif isinstance(events, Sized) and not len(events):
        return
    else:
        given = events

        def make() -> Iterable[Event]:
            return given

    transaction.on_commit(lambda: _publish(make), using=using)


def _publish(make: Callable[[], Iterable[Event]]) -> None:
    # The data is already committed: a broker failure must not turn a successful
    # send into an error. Browsers resync their badge on reconnect.
    try:
        get_broker().publish(make())
    except Exception:
        logger.exception("Could not publish inbox events.")
