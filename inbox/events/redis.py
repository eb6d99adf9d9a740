"""Redis pub/sub broker: a publish from any process reaches browsers connected to any other.

    INBOX = {"BROKER": "inbox.events.redis.RedisBroker",
             "BROKER_OPTIONS": {"url": "redis://127.0.0.1:6379/0", "prefix": "mysite:inbox:"}}

One channel per recipient (``<prefix><app_label.model:pk>``). Each process keeps one
``redis.asyncio`` pub/sub connection, on a thread of its own, subscribed to exactly the
channels its open streams need, and fans messages out locally. If Redis is unreachable,
publishing logs once and returns (the notification is stored; nothing is raised), the
listener retries, and on reconnecting it tells every local stream to resync its badge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import redis
import redis.asyncio as aioredis

from inbox.events.base import Event, Subscription
from inbox.events.inprocess import InProcessBroker

logger = logging.getLogger("inbox.events")

CONTROL = "__inbox_control__"


class RedisBroker(InProcessBroker):
    def __init__(self, url: str = "redis://127.0.0.1:6379/0", prefix: str = "inbox:", **options: Any) -> None:
        super().__init__(url=url, prefix=prefix, **options)
        self.url = url
        self.prefix = prefix
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self._publish_failing = False
        self._listener: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commands: asyncio.Queue[tuple[str, list[str]]] | None = None
        self._started = threading.Event()
        self._connected = threading.Event()
        self._start_lock = threading.Lock()

    # -- publishing (any thread, any process) ---------------------------------------------------

    def publish(self, events: Sequence[Event]) -> None:
        try:
            pipe = self._client.pipeline(transaction=False)
            for event in events:
                pipe.publish(self.prefix + event.recipient, json.dumps(event.as_dict()))
            pipe.execute()
        except (redis.RedisError, OSError) as error:
            if not self._publish_failing:
                self._publish_failing = True
                logger.error("Redis is unreachable; inbox events are not delivered until it returns: %s", error)
            return
        if self._publish_failing:
            self._publish_failing = False
            logger.warning("Redis is reachable again; inbox events are delivered.")

    # -- subscribing ------------------------------------------------------------------------------

    def subscribe(self, channels: Iterable[str]) -> Subscription:
        self._ensure_listener()
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
        loop, queue = self._loop, self._commands
        if loop is None or queue is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(queue.put_nowait, (name, channels, subscription))

    def _ensure_listener(self) -> None:
        with self._start_lock:
            if self._listener is None or not self._listener.is_alive():
                self._started.clear()
                self._listener = threading.Thread(target=self._run, name="inbox-redis-listener", daemon=True)
                self._listener.start()
                self._started.wait(5)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._commands = asyncio.Queue()
        self._started.set()
        try:
            loop.run_until_complete(self._listen())
        finally:
            loop.close()

    async def _listen(self) -> None:
        failing = False
        delay = 0.2
        waiting: list[Subscription] = []
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*[self.prefix + c for c in (CONTROL, *self.channels())])
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
                    while not self._commands.empty():
                        name, channels, subscription = self._commands.get_nowait()
                        if name == "subscribe" and channels:
                            await pubsub.subscribe(*[self.prefix + c for c in channels])
                        elif name == "unsubscribe" and channels:
                            # Someone may have subscribed again since: keep channels still in use.
                            unused = [c for c in channels if c not in set(self.channels())]
                            if unused:
                                await pubsub.unsubscribe(*[self.prefix + c for c in unused])
                        if subscription is not None:
                            subscription.ready.set()
                    message = await pubsub.get_message(timeout=0.05)
                    if message and message.get("type") == "message":
                        self._dispatch(message)
            except (redis.RedisError, OSError) as error:
                self._connected.clear()
                while not self._commands.empty():  # answered after reconnecting
                    _name, _channels, subscription = self._commands.get_nowait()
                    if subscription is not None:
                        waiting.append(subscription)
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
        try:
            channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
            event = Event.from_dict(json.loads(message["data"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("Ignored a malformed inbox event on %r.", message.get("channel"))
            return
        if channel != self.prefix + event.recipient:
            return  # an event must name the channel it came on
        self.deliver_locally([event])
