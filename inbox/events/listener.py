"""The thread a cross-process broker listens on: an asyncio loop of its own, beside the site's."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class ListenerThread:
    """One daemon thread running ``listen()`` to completion on its own event loop.

    Started by the first subscription, and again whenever it is not alive (a forked worker
    inherits the broker but not the thread). ``stop()`` cancels ``listen()`` and waits for it.
    """

    def __init__(self, name: str, listen: Callable[[], Coroutine[Any, Any, None]],
                 on_loop: Callable[[asyncio.AbstractEventLoop], None] | None = None) -> None:
        self.name = name
        self._listen = listen
        self._on_loop = on_loop  # runs on the new loop's thread before listen() starts
        self.loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._started = threading.Event()

    def ensure_running(self, before_start: Callable[[], None] | None = None) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                if before_start is not None:
                    before_start()
                self._started.clear()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
                self._started.wait(5)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the listener's loop, from any thread; nothing once it stopped."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def stop(self, timeout: float = 10.0) -> None:
        task, thread = self._task, self._thread
        if task is not None:
            self.call_soon(task.cancel)
        if thread is not None:
            thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        if self._on_loop is not None:
            self._on_loop(loop)
        self._task = loop.create_task(self._listen())
        self._started.set()
        try:
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass  # stop() ended it
        finally:
            loop.close()
