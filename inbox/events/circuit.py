"""A circuit breaker for publishing: while Redis is down, a send costs nothing.

Without it every send during an outage waits out a connection timeout in the request thread.
After one failure the circuit opens: callers are refused at once, without touching a socket,
and a background thread probes every ``cooldown`` seconds until the service answers again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("inbox.events")


class CircuitBreaker:
    def __init__(self, probe: Callable[[], object], *, cooldown: float, name: str) -> None:
        self.probe = probe
        self.cooldown = cooldown
        self.name = name
        self._lock = threading.Lock()
        self._open = False
        self._stopped = threading.Event()

    @property
    def closed(self) -> bool:
        return not self._open

    def allow(self) -> bool:
        return not self._open

    def failed(self, error: BaseException) -> None:
        """Open the circuit (logging once per outage) and start probing in the background."""
        with self._lock:
            if self._open:
                return
            self._open = True
        logger.error("%s is unreachable; inbox events are not delivered until it returns "
                     "(retrying every %gs in the background): %s", self.name, self.cooldown, error)
        threading.Thread(target=self._probe_until_back, name="inbox-circuit-probe", daemon=True).start()

    def _probe_until_back(self) -> None:
        while not self._stopped.wait(self.cooldown):
            try:
                self.probe()
            except Exception:  # still down: stay open, keep quiet (the outage was logged)
                continue
            with self._lock:
                self._open = False
            logger.warning("%s is reachable again; inbox events are delivered.", self.name)
            return

    def stop(self) -> None:
        self._stopped.set()
