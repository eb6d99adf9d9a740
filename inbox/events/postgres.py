"""PostgreSQL LISTEN/NOTIFY broker: live updates across processes with only the site's database.

    INBOX = {"BROKER": "inbox.events.postgres.PostgresBroker"}

Publishing sends ``SELECT pg_notify(channel, payload)`` on one autocommit psycopg connection per
process, its own rather than Django's: ``publish_on_commit`` already runs after the commit, so
NOTIFY's transactional delivery would add nothing, while Django's connection could be inside a
caller's atomic block (the event would wait for, or die with, someone else's transaction), is
per thread, and a failing NOTIFY on it would break the caller's transaction. Payloads carry
recipient labels and uids, never text (see :mod:`inbox.events.pgwire`), packed under NOTIFY's
8,000-byte limit and signed with SECRET_KEY like the Redis broker's messages.

Every process keeps one ``psycopg.AsyncConnection`` on a thread of its own, LISTENing on the
site's one channel: it hears every event of the site and keeps those of recipients it has
streams for. If the server goes away, publishing logs once and a circuit breaker makes every
later publish return at once until a background probe connects again; the listener retries
with backoff and, back, tells every local stream to resync.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

import psycopg
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils.crypto import salted_hmac
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from inbox.events import pgwire, signing
from inbox.events.base import Event, Subscription
from inbox.events.circuit import CircuitBreaker
from inbox.events.inprocess import InProcessBroker
from inbox.events.listener import ListenerThread

logger = logging.getLogger("inbox.events")

CHANNEL_SALT = "inbox.events.postgres.channel"
#: PostgreSQL channel names are identifiers: at most 63 bytes.
MAX_CHANNEL_BYTES = 63
#: A signature and its separator precede every payload body (see :mod:`inbox.events.signing`).
SIGNATURE_BYTES = 65
#: Payloads sent in one transaction: delivered together, in order, with one commit.
PAYLOADS_PER_TRANSACTION = 50
#: Seconds without a notification after which the listener checks that its connection still answers.
LIVENESS_INTERVAL = 30.0
#: DATABASES OPTIONS that Django reads itself and libpq would refuse.
DJANGO_ONLY_OPTIONS = frozenset({"assume_role", "isolation_level", "pool", "server_side_binding", "prepare_threshold",
                                 "cursor_factory", "context"})


def default_channel() -> str:
    """``inbox_<32 hex digits>``, from SECRET_KEY: the same in every process of one deployment."""
    return f"inbox_{salted_hmac(CHANNEL_SALT, 'channel', algorithm='sha256').hexdigest()[:32]}"


def channel_name(name: str) -> str:
    """``name`` if it is a valid channel name, else a stable hash of it that is."""
    if len(name.encode()) <= MAX_CHANNEL_BYTES and name.replace("_", "a").isalnum() and name.isascii():
        return name
    return f"inbox_{salted_hmac(CHANNEL_SALT, name, algorithm='sha256').hexdigest()[:32]}"


def conninfo_for(database: str = "default") -> str:
    """A libpq connection string for Django's DATABASES[database]."""
    if database not in settings.DATABASES:
        raise ImproperlyConfigured(f"PostgresBroker: DATABASES has no {database!r} entry.")
    # The live settings of the alias: under tests, NAME is the test database's.
    return conninfo_from(connections[database].settings_dict, database)


def conninfo_from(config: dict[str, Any], database: str = "default") -> str:
    """A libpq connection string from a DATABASES entry (HOST, PORT, NAME, USER, PASSWORD, OPTIONS)."""
    engine = str(config.get("ENGINE", ""))
    if "postgresql" not in engine and "postgis" not in engine:
        raise ImproperlyConfigured(
            f"PostgresBroker needs PostgreSQL, but DATABASES[{database!r}] uses {engine or 'no ENGINE'}: set "
            "INBOX['BROKER_OPTIONS'] to {'database': '<a PostgreSQL alias>'} or {'conninfo': 'postgresql://…'}, "
            "or use the Redis broker (docs/live.md)."
        )
    params: dict[str, Any] = {name: value for name, value in (config.get("OPTIONS") or {}).items()
                              if name not in DJANGO_ONLY_OPTIONS and isinstance(value, (str, int, float))}
    params.update({name: config[key] for name, key in
                   (("dbname", "NAME"), ("user", "USER"), ("password", "PASSWORD"), ("host", "HOST"), ("port", "PORT"))
                   if config.get(key)})
    return make_conninfo(**params)


def configuration_errors(options: dict[str, Any]) -> list[checks.CheckMessage]:
    """What is wrong with these BROKER_OPTIONS, as system check messages (for inbox.checks)."""
    if options.get("conninfo"):
        return []
    try:
        conninfo_for(options.get("database", "default"))
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="inbox.E009", obj="INBOX['BROKER_OPTIONS']")]
    return []


class PostgresBroker(InProcessBroker):
    """Options (``INBOX["BROKER_OPTIONS"]``):

    ``database``: the DATABASES alias whose server carries the events (default "default").
    ``conninfo``: a libpq connection string or URL instead (for a site whose database is not PostgreSQL).
    ``channel``: the NOTIFY channel (default: derived from SECRET_KEY; hashed if not a valid name).
    ``cooldown``: seconds between background probes while the server is unreachable (default 5).
    """

    def __init__(self, *, database: str = "default", conninfo: str | None = None, channel: str | None = None,
                 cooldown: float = 5.0, **options: Any) -> None:
        super().__init__(database=database, conninfo=conninfo, channel=channel, cooldown=cooldown, **options)
        base = conninfo if conninfo else conninfo_for(database)
        given = conninfo_to_dict(base)
        # A send never waits long on a server that is gone: a short connect timeout, and a cap on how
        # long sent data may go unacknowledged (a dead peer behind a silent network), unless the site set them.
        extra = {name: value for name, value in (("connect_timeout", 2), ("tcp_user_timeout", 5000))
                 if name not in given}
        self.conninfo = make_conninfo(base, **extra)
        self._has_application_name = "application_name" in given
        self.channel = channel_name(channel) if channel else default_channel()
        self.circuit = CircuitBreaker(self._probe, cooldown=cooldown, name="PostgreSQL (inbox events)")
        self._sender: psycopg.Connection[Any] | None = None
        self._sender_pid = 0
        self._send_lock = threading.Lock()
        self._rejected_signature = False
        self._listener = ListenerThread("inbox-postgres-listener", self._listen)
        #: Guards ``_listening`` and ``_waiting``: a subscription is made ready exactly once LISTEN is on.
        self._ready_lock = threading.Lock()
        self._listening = False
        self._waiting: list[Subscription] = []
        #: The server process id of the listening connection (pg_stat_activity.pid), while connected.
        self.listener_pid: int | None = None

    # -- publishing (any thread, any process) ---------------------------------------------------

    def publish(self, events: Iterable[Event]) -> None:
        if not self.circuit.allow():
            return  # the server is unreachable: stored notifications show up when streams resync
        packer = pgwire.Packer(pgwire.NOTIFY_LIMIT - SIGNATURE_BYTES)
        payloads = (signing.sign(body.encode()).decode() for body in packer.pack(events))
        # Events are consumed lazily (a broadcast's may come from the database in batches):
        # the connection is held per batch of payloads, not for the whole publish.
        while batch := list(itertools.islice(payloads, PAYLOADS_PER_TRANSACTION)):
            with self._send_lock:
                if not self.circuit.allow():
                    break  # opened while this thread waited for the connection: do not wait again
                try:
                    self._send(batch)
                except (psycopg.Error, OSError) as error:
                    self._discard_sender()
                    self.circuit.failed(error)  # under the lock: a thread waiting for it sees the circuit open
                    break
        if packer.dropped_silent or packer.dropped_events:
            logger.warning(
                "Dropped the text of %d silent inbox notification(s), and %d event(s), too big for a PostgreSQL "
                "NOTIFY payload (under 8,000 bytes): their recipients' streams still resync, without that toast. "
                "Lower EVENT_PREVIEW_LENGTH, or use the Redis broker for long silent messages.",
                packer.dropped_silent, packer.dropped_events)

    def _send(self, batch: list[str]) -> None:
        sender = self._connection()
        try:
            self._notify(sender, batch)
        except psycopg.OperationalError:
            # A connection the server dropped since (a restart, an idle timeout): one fresh attempt,
            # and only if that fails too does the circuit open. A failed transaction sent nothing.
            if not sender.broken and not sender.closed:
                raise
            self._discard_sender()
            self._notify(self._connection(), batch)

    def _notify(self, sender: psycopg.Connection[Any], batch: list[str]) -> None:
        query = "SELECT pg_notify(%s, %s)"
        if len(batch) == 1:
            sender.execute(query, (self.channel, batch[0]))
            return
        with sender.transaction(), sender.cursor() as cursor:
            cursor.executemany(query, [(self.channel, payload) for payload in batch])

    def _connection(self) -> psycopg.Connection[Any]:
        if self._sender_pid != os.getpid():
            # Forked since (a pre-forking server): the parent's socket is not ours to use, nor to close.
            self._sender = None
        if self._sender is None or self._sender.closed:
            self._sender = psycopg.connect(self._named("inbox-events-publish"), autocommit=True)
            self._sender_pid = os.getpid()
        return self._sender

    def _named(self, name: str) -> str:
        """The conninfo with an application_name that tells the broker's connections apart in
        pg_stat_activity, unless the site set one."""
        return self.conninfo if self._has_application_name else make_conninfo(self.conninfo, application_name=name)

    def _discard_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None and self._sender_pid == os.getpid():
            try:
                sender.close()
            except Exception:  # already gone
                pass

    def _probe(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as probe:
            probe.execute("SELECT 1")

    # -- subscribing ------------------------------------------------------------------------------

    def subscribe(self, channels: Iterable[str]) -> Subscription:
        self._ensure_listener()
        subscription = Subscription(self, channels)
        self._register(subscription)
        with self._ready_lock:
            if self._listening:
                subscription.ready.set()
            else:
                self._waiting.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._unregister(subscription)
        with self._ready_lock:
            if subscription in self._waiting:
                self._waiting.remove(subscription)

    def _ensure_listener(self) -> None:
        # No listener (yet, or since a fork): nothing is LISTENing until the new one says so.
        self._listener.ensure_running(before_start=lambda: self._set_listening(False))

    def _set_listening(self, listening: bool) -> None:
        with self._ready_lock:
            self._listening = listening
            waiting, self._waiting = (self._waiting, []) if listening else ([], self._waiting)
        for subscription in waiting:
            subscription.ready.set()

    async def _listen(self) -> None:
        failing = False
        delay = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._named("inbox-events-listen"), autocommit=True
                ) as connection:
                    await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.listener_pid = connection.info.backend_pid
                    self._set_listening(True)
                    if failing:
                        failing = False
                        delay = 0.2
                        logger.warning("Reconnected to PostgreSQL for inbox events; live inbox streams resync.")
                        # Anything published while we were away is lost: every stream re-reads its badge.
                        self.deliver_locally([Event(recipient=channel) for channel in self.channels()])
                    while True:
                        async for notify in connection.notifies(timeout=LIVENESS_INTERVAL):
                            self._dispatch(notify.channel, notify.payload)
                        # Quiet for a while: a dead peer behind a silent network would never say so.
                        await connection.execute("SELECT 1")
            except Exception as error:  # psycopg.Error or OSError, mostly: anything else must not end live updates either
                self._set_listening(False)
                self.listener_pid = None
                if not failing:
                    failing = True
                    logger.error("Lost the PostgreSQL connection for inbox events, retrying: %s", error,
                                 exc_info=not isinstance(error, (psycopg.Error, OSError)))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel != self.channel:
            return
        body = signing.unsign(payload.encode())
        if body is None:
            if not self._rejected_signature:
                self._rejected_signature = True
                logger.error("Dropped an inbox event on PostgreSQL channel %r whose signature is not this site's "
                             "(another site on this database, or a different SECRET_KEY); further ones are dropped "
                             "silently.", channel)
            return
        try:
            events = pgwire.unpack(body, self.listens_to)
        except (ValueError, KeyError, TypeError, IndexError):
            logger.warning("Ignored a malformed inbox event on PostgreSQL channel %r.", channel)
            return
        self.deliver_locally(events)

    # -- shutting down ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening and close both connections (tests; a process that stops serving streams)."""
        self._listener.stop()
        self._set_listening(False)
        self.listener_pid = None
        self.circuit.stop()
        with self._send_lock:
            self._discard_sender()
