"""Redis pub/sub broker: a publish from any process reaches browsers connected to any other.

    INBOX = {"BROKER": "inbox.events.redis.RedisBroker",
             "BROKER_OPTIONS": {"url": "redis://127.0.0.1:6379/0"}}

Small publishes go out one message per recipient, on ``<prefix><app_label.model:pk>``; a big
one (a broadcast) is packed a thousand events to a message on one shared bulk channel that
every process hears, and each process keeps the events of recipients it has streams for. Each
process keeps one ``redis.asyncio`` pub/sub connection, on a thread of its own, subscribed to
the control and bulk channels and to exactly the channels its open streams need.

The default prefix is derived from SECRET_KEY, and every message is signed with it: two sites
sharing a Redis neither hear nor can feed each other. If Redis is unreachable, publishing logs
once and a circuit breaker makes every later publish return at once until a background probe
sees Redis again; the listener retries, and on reconnecting tells every local stream to resync.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio as aioredis

from inbox.events import signing, wire
from inbox.events.base import Event, Subscription, chunks
from inbox.events.circuit import CircuitBreaker
from inbox.events.inprocess import InProcessBroker
from inbox.events.listener import ListenerThread

logger = logging.getLogger("inbox.events")

CONTROL = "__inbox_control__"
BULK = "__inbox_bulk__"


class RedisBroker(InProcessBroker):
    """Options (``INBOX["BROKER_OPTIONS"]``):

    ``url``: the Redis URL. ``prefix``: channel prefix (default: derived from SECRET_KEY).
    ``cooldown``: seconds between background probes while Redis is down (default 5).
    ``bulk_threshold``: publishes of more events than this are packed (default 10).
    ``bulk_size``: events per packed message (default 1000).
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", prefix: str | None = None, *,
                 cooldown: float = 5.0, bulk_threshold: int = 10, bulk_size: int = 1000, **options: Any) -> None:
        super().__init__(url=url, prefix=prefix, cooldown=cooldown, bulk_threshold=bulk_threshold,
                         bulk_size=bulk_size, **options)
        self.url = url
        self.prefix = prefix if prefix is not None else signing.default_prefix()
        self.bulk_threshold = bulk_threshold
        self.bulk_size = bulk_size
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        # The probe has its own connections, so the publishing client is never touched while open.
        self._probe_client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self.circuit = CircuitBreaker(self._probe_client.ping, cooldown=cooldown, name="Redis")
        self._rejected_signature = False
        self._commands: asyncio.Queue[tuple[str, list[str], Subscription | None]] | None = None
        self._listener = ListenerThread("inbox-redis-listener", self._listen, on_loop=self._make_queue)
        self._connected = threading.Event()

    # -- publishing (any thread, any process) ---------------------------------------------------

    @property
    def bulk_channel(self) -> str:
        return self.prefix + BULK

    def publish(self, events: Iterable[Event]) -> None:
        if not self.circuit.allow():
            return  # Redis is down: stored notifications show up when streams resync
        try:
            self._send(iter(events))
        except (redis.RedisError, OSError) as error:
            self.circuit.failed(error)

    def _send(self, events: Iterable[Event]) -> None:
        head = list(itertools.islice(events, self.bulk_threshold + 1))
        if len(head) <= self.bulk_threshold:
            if head:
                pipe = self._client.pipeline(transaction=False)
                for event in head:
                    pipe.publish(self.prefix + event.recipient, signing.sign(wire.encode_event(event)))
                pipe.execute()
            return
        for chunk in chunks(itertools.chain(head, events), self.bulk_size):
            self._client.publish(self.bulk_channel, signing.sign(wire.pack(chunk)))

    # -- subscribing ------------------------------------------------------------------------------

    def subscribe(self, channels: Iterable[str]) -> Subscription:
        self._listener.ensure_running()
        subscription = Subscription(self, channels)
        new = self._register(subscription)
        if new:
            self._command("subscribe", new, subscription)
        elif self._connected.is_set():
            subscription.ready.set()
        else:
            self._command("wait", [], subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        gone = self._unregister(subscription)
        if gone:
            self._command("unsubscribe", gone)

    def _command(self, name: str, channels: list[str], subscription: Subscription | None = None) -> None:
        queue = self._commands
        if queue is not None:
            self._listener.call_soon(queue.put_nowait, (name, channels, subscription))

    def _make_queue(self, loop: asyncio.AbstractEventLoop) -> None:
        self._commands = asyncio.Queue()

    async def _listen(self) -> None:
        commands = self._commands
        assert commands is not None  # _make_queue made it before listen() started
        failing = False
        delay = 0.2
        waiting: list[Subscription] = []
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*[self.prefix + c for c in (CONTROL, BULK, *self.channels())])
                self._connected.set()
                for subscription in waiting:
                    subscription.ready.set()
                waiting.clear()
                if failing:
                    failing = False
                    delay = 0.2
                    logger.warning("Reconnected to Redis; live inbox streams resync.")
                    # Anything published while we were away is lost: every stream re-reads its badge.
                    self.deliver_locally([Event(recipient=channel) for channel in self.channels()])
                while True:
                    while not commands.empty():
                        name, channels, asked = commands.get_nowait()
                        if name == "subscribe" and channels:
                            await pubsub.subscribe(*[self.prefix + c for c in channels])
                        elif name == "unsubscribe" and channels:
                            # Someone may have subscribed again since: keep channels still in use.
                            unused = [c for c in channels if c not in set(self.channels())]
                            if unused:
                                await pubsub.unsubscribe(*[self.prefix + c for c in unused])
                        if asked is not None:
                            asked.ready.set()
                    message = await pubsub.get_message(timeout=0.05)
                    if message and message.get("type") == "message":
                        self._dispatch(message)
            except (redis.RedisError, OSError) as error:
                self._connected.clear()
                while not commands.empty():  # answered after reconnecting
                    _name, _channels, asked = commands.get_nowait()
                    if asked is not None:
                        waiting.append(asked)
                if not failing:
                    failing = True
                    logger.error("Lost the Redis connection for inbox events, retrying: %s", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except Exception:  # the connection is already gone
                    pass

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else str(message["channel"])
        data = message["data"] if isinstance(message["data"], bytes) else str(message["data"]).encode()
        body = signing.unsign(data)
        if body is None:
            if not self._rejected_signature:
                self._rejected_signature = True
                logger.error("Dropped an inbox event on %r whose signature is not this site's (another site "
                             "on this Redis, or a different SECRET_KEY); further ones are dropped silently.", channel)
            return
        try:
            if channel == self.bulk_channel:
                self.deliver_locally(wire.unpack(body, self.listens_to))
                return
            event = wire.decode_event(body)
        except (ValueError, KeyError, TypeError, IndexError):
            logger.warning("Ignored a malformed inbox event on %r.", channel)
            return
        if channel != self.prefix + event.recipient:
            return  # an event must name the channel it came on
        self.deliver_locally([event])

    # -- shutting down ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening and close the connections (tests; a process that stops serving streams)."""
        self._listener.stop()
        self._connected.clear()
        self.circuit.stop()
        self._client.close()
        self._probe_client.close()
