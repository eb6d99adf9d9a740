"""Answer every stream woken in the same loop tick with one trip to Django's sync thread.

A broadcast (or a heartbeat) wakes many streams at once. If each read its own badge or checked its
own session, a thousand streams would queue a thousand thread hops; instead each asks a batcher,
which waits one tick for the others and answers them all with a single call of :meth:`read`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

from asgiref.sync import sync_to_async

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TickBatcher(Generic[K, V]):
    """Subclass and implement :meth:`read` (synchronous: it may query the database)."""

    def __init__(self) -> None:
        self.pending: dict[K, list[asyncio.Future[V]]] = {}
        self.flushing = False

    def read(self, keys: list[K]) -> Mapping[K, V]:
        raise NotImplementedError

    async def ask(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V] = loop.create_future()
        self.pending.setdefault(key, []).append(future)
        if not self.flushing:
            self.flushing = True
            loop.create_task(self.flush())
        return await future

    async def flush(self) -> None:
        await asyncio.sleep(0)  # let every stream woken by the same tick ask first
        pending, self.pending, self.flushing = self.pending, {}, False
        try:
            found = await sync_to_async(self.read)(list(pending))
        except Exception as error:
            for futures in pending.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(error)
            return
        for key, futures in pending.items():
            for future in futures:
                if not future.done():
                    future.set_result(found[key])

    @classmethod
    def for_loop(cls) -> TickBatcher[K, V]:
        """The batcher of this class for the running event loop (one per loop and class)."""
        loop = asyncio.get_running_loop()
        batchers = _per_loop.setdefault(loop, {})
        if cls not in batchers:
            batchers[cls] = cls()
        return batchers[cls]


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[type, TickBatcher]] = weakref.WeakKeyDictionary()
