"""Publishing "recipient changed" events after commit, through the configured broker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache

from django.db import transaction

from inbox import conf
from inbox.events.base import Broker, Event, Subscription, describe

__all__ = ["Broker", "Event", "Subscription", "describe", "get_broker", "publish_on_commit", "reset_broker"]

logger = logging.getLogger("inbox.events")


@cache
def get_broker() -> Broker:
    broker_class = conf.load(conf.get("BROKER"))
    return broker_class(**conf.get("BROKER_OPTIONS"))


def reset_broker() -> None:
    get_broker.cache_clear()


def publish_on_commit(events: Sequence[Event], *, using: str | None = None) -> None:
    """Publish once the surrounding transaction commits; a rollback publishes nothing."""
    if events:
        transaction.on_commit(lambda: _publish(events), using=using)


def _publish(events: Sequence[Event]) -> None:
    # The data is already committed: a broker failure must not turn a successful
    # send into an error. Browsers resync their badge on reconnect.
    try:
        get_broker().publish(events)
    except Exception:
        logger.exception("Could not publish %d inbox event(s).", len(events))
