"""Everything a stream reads right before it delivers a burst, for every stream woken in the same
tick, in one thread hop.

Before showing a burst a stream must know that the session (or token user) that opened it still
holds, the badge counts, and the details of new notifications its events named without describing
them (a broker whose events carry bare uids). Asked one by one, a broadcast to 1,000 streams
would cost a hop per question per stream and a query per stream for the details; here one hop
answers them all: the sessions and users, then the counts of the streams still signed in, then
one query for every bare uid, each stream keeping only rows of its own recipients.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from inbox import stats
from inbox.events.base import describe
from inbox.models import Notification
from inbox.recipients import Key, keys_q
from inbox.sse import sessions
from inbox.sse.batching import TickBatcher
from inbox.sse.db import healthy

#: Bare uids one burst may ask details for (the newest): more than a burst can show as toasts.
MAX_BARE = 200
#: Streams whose bare uids share one query: bounds the query's parameters (two per stream or so).
FETCH_CHUNK = 250


@dataclasses.dataclass(frozen=True)
class Ask:
    """One stream's question: its owner (None: nothing to re-check), its recipients' keys and the
    uids its burst named without details."""

    owner: sessions.Owner | None
    keys: tuple[Key, ...]
    bare: tuple[str, ...] = ()

    @classmethod
    def of(cls, owner: sessions.Owner | None, keys: Sequence[Key], bare: Sequence[str] = ()) -> Ask:
        return cls(owner=owner, keys=tuple(keys), bare=tuple(bare)[-MAX_BARE:])


@dataclasses.dataclass(frozen=True)
class Reading:
    """The answer. When ``signed_in`` is False nothing else was read: the stream must end."""

    signed_in: bool
    counts: stats.Counts = stats.Counts()
    details: tuple[dict[str, Any], ...] = ()


SIGNED_OUT = Reading(signed_in=False)


@healthy
def read(asks: Iterable[Ask]) -> dict[Ask, Reading]:
    """Answer ``asks`` with a few queries: sessions and users (only when some stream has an
    owner), one for the counts, and one per FETCH_CHUNK streams with bare uids."""
    asks = list(asks)
    owners = {ask.owner for ask in asks if ask.owner is not None}
    signed = sessions.signed_in_all(owners) if owners else {}
    live = [ask for ask in asks if ask.owner is None or signed[ask.owner]]
    counts = stats.counts_by_key({key for ask in live for key in ask.keys}) if live else {}
    details = _details([ask for ask in live if ask.bare])
    result = dict.fromkeys(asks, SIGNED_OUT)
    for ask in live:
        result[ask] = Reading(
            signed_in=True,
            counts=_sum_counts(counts, ask.keys),
            details=details.get(ask, ()),
        )
    return result


def _sum_counts(counts: dict[Key, stats.Counts], keys: tuple[Key, ...]) -> stats.Counts:
    if len(keys) == 1:  # nearly every stream (one user): nothing to add up
        return counts.get(keys[0], stats.Counts())
    return stats.total(counts.get(key, stats.Counts()) for key in keys)


def _details(asks: list[Ask]) -> dict[Ask, tuple[dict[str, Any], ...]]:
    """Each ask's bare uids described, newest first — only notifications of that ask's own
    recipients: a uid naming someone else's notification shows nothing."""
    result: dict[Ask, tuple[dict[str, Any], ...]] = {}
    for start in range(0, len(asks), FETCH_CHUNK):
        chunk = asks[start:start + FETCH_CHUNK]
        objects: Any = Notification.objects  # its queryset methods are not in the manager's type
        rows = list(
            objects.visible()
            .filter(keys_q({key for ask in chunk for key in ask.keys}))
            .filter(uid__in={uid for ask in chunk for uid in ask.bare})
            .order_by("-sent_at", "-id")
        )
        described: dict[int, dict[str, Any]] = {}
        for ask in chunk:
            keys, uids = set(ask.keys), set(ask.bare)
            mine = [row for row in rows if (row.recipient_type_id, str(row.recipient_id)) in keys and str(row.uid) in uids]
            result[ask] = tuple(described.setdefault(row.pk, describe(row)) for row in mine)
    return result


class DeliveryReads(TickBatcher[Ask, Reading]):
    """The pre-delivery reads of every stream woken in the same tick, in one thread hop."""

    def read(self, keys: list[Ask]) -> dict[Ask, Reading]:
        return read(keys)


def reads() -> DeliveryReads:
    batcher = DeliveryReads.for_loop()
    assert isinstance(batcher, DeliveryReads)
    return batcher
