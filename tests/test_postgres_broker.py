"""The PostgreSQL LISTEN/NOTIFY broker against a real server (tests/test_broker_contract.py has the shared contract).

The tests marked ``postgres`` run in the PostgreSQL pass, on the test database; the others check
configuration and payload packing, and run in every pass.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac
from psycopg import sql

from inbox import events
from inbox.events import pgwire, signing
from inbox.events.base import Event
from inbox.events.postgres import (
    SIGNATURE_BYTES,
    PostgresBroker,
    channel_name,
    configuration_errors,
    conninfo_for,
    conninfo_from,
    default_channel,
)
from inbox.recipients import key_of, label
from inbox.services import notifier
from tests.services import free_port
from tests.test_broker_contract import kept, ready, receive
from tests.test_sse import close_stream_connections  # noqa: F401  (a fixture)

postgres = pytest.mark.postgres


class RawListener:
    """A plain psycopg connection LISTENing on a broker's channel: sees payloads exactly as sent."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self.connection = psycopg.connect(conninfo, autocommit=True)
        self.connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

    def payloads(self, quiet: float = 1.0) -> list[str]:
        """Everything received until nothing more arrives for ``quiet`` seconds."""
        return [notify.payload for notify in self.connection.notifies(timeout=quiet)]

    def close(self) -> None:
        self.connection.close()


def events_in(payloads: list[str]) -> list[Event]:
    found = []
    for payload in payloads:
        body = signing.unsign(payload.encode())
        assert body is not None
        found += pgwire.unpack(body, lambda recipient: True)
    return found


@pytest.fixture
def conninfo(django_db_setup) -> str:
    return conninfo_for("default")


@pytest.fixture
def broker(conninfo) -> Iterator[PostgresBroker]:
    broker = PostgresBroker(conninfo=conninfo, channel=f"pgtest_{uuid.uuid4().hex[:12]}")
    yield broker
    broker.close()  # before the test database is dropped


@pytest.fixture
def raw(broker) -> Iterator[RawListener]:
    listener = RawListener(broker.conninfo, broker.channel)
    yield listener
    listener.close()


def terminate(conninfo: str, pid: int) -> None:
    """What a restart or failover does to a connection, from another connection."""
    with psycopg.connect(conninfo, autocommit=True) as admin:
        [(done,)] = admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchall()
    assert done


def publisher_pid(broker: PostgresBroker) -> int:
    broker.publish([Event(recipient="nobody")])  # opens the publishing connection
    assert broker._sender is not None
    return broker._sender.info.backend_pid


# -- payloads -------------------------------------------------------------------------------------


@postgres
def test_a_10000_recipient_publish_stays_under_8000_bytes_per_notify(broker, raw):
    sent = [Event(recipient=f"auth.user:{n}", new=(str(uuid.uuid4()),),
                  details=({"uid": "x", "message": "a preview that never travels"},)) for n in range(10_000)]
    broker.publish(iter(sent))
    payloads = raw.payloads()
    assert broker.circuit.closed  # the server accepted every payload
    assert max(len(payload.encode()) for payload in payloads) < 8000
    assert len(payloads) < 100  # packed: about 130 events to a NOTIFY
    assert kept(events_in(payloads)) == kept(sent)  # all of them, in order
    assert not any("never travels" in payload for payload in payloads)  # ids, not text


@postgres
def test_long_silent_messages_are_split_across_payloads_and_arrive_whole(broker, raw):
    # 280 characters outside the BMP: escaped in JSON, about 3,400 bytes each, and all different.
    sent = [Event(recipient=f"auth.user:{n}", silent=({"uid": str(n), "message": f"{n} " + "\U0001f600" * 276},))
            for n in range(20)]
    sent.append(Event(recipient="auth.user:0", new=tuple(str(uuid.uuid4()) for _ in range(400))))  # 15 KB of uids
    broker.publish(sent)
    payloads = raw.payloads()
    assert broker.circuit.closed
    assert max(len(payload.encode()) for payload in payloads) < 8000
    received = events_in(payloads)
    assert [event.silent for event in received if event.silent] == [event.silent for event in sent[:-1]]
    assert [uid for event in received for uid in event.new] == list(sent[-1].new)


@postgres
def test_a_silent_message_too_long_for_any_payload_loses_its_text_and_says_so(broker, caplog):
    with broker.subscribe(["auth.user:1"]) as subscription:
        ready(subscription)
        with caplog.at_level(logging.WARNING, logger="inbox.events"):
            broker.publish([Event(recipient="auth.user:1", silent=({"uid": "s", "message": "x" * 9000},))])
        assert receive(subscription) == [Event(recipient="auth.user:1")]  # the stream still resyncs
    assert "Dropped the text of 1 silent inbox notification" in caplog.text


def test_the_packer_never_exceeds_its_limit_whatever_the_events():
    packer = pgwire.Packer(pgwire.NOTIFY_LIMIT - SIGNATURE_BYTES)
    sent = [Event(recipient=f"app.model:{'k' * (n % 50)}{n}", new=tuple(str(i) * (n % 7) for i in range(n % 40)),
                  silent=tuple({"uid": str(i), "message": f"{i}" + "é" * (n * 37 % 700)} for i in range(n % 3)))
            for n in range(3000)]
    bodies = list(packer.pack(sent))
    assert max(len(signing.sign(body.encode())) for body in bodies) <= pgwire.NOTIFY_LIMIT
    received = [event for body in bodies for event in pgwire.unpack(body, lambda recipient: True)]
    assert packer.dropped_silent == packer.dropped_events == 0

    def flat(events: list[Event]) -> list[tuple[str, Any]]:  # big events arrive split: compare their parts
        return [(e.recipient, part) for e in events for part in (*e.new, *e.silent)]

    assert flat(received) == flat(sent)
    assert len(bodies) > 100 and len(received) > len(sent)  # it did split some


# -- configuration --------------------------------------------------------------------------------


def test_conninfo_comes_from_a_postgresql_databases_entry():
    config = {"ENGINE": "django.db.backends.postgresql", "NAME": "site", "USER": "web", "PASSWORD": "s3cret",
              "HOST": "db.internal", "PORT": "6432",
              "OPTIONS": {"sslmode": "require", "isolation_level": 1, "pool": {"min_size": 2},
                          "server_side_binding": True}}
    info = psycopg.conninfo.conninfo_to_dict(conninfo_from(config))
    assert info == {"dbname": "site", "user": "web", "password": "s3cret", "host": "db.internal", "port": "6432",
                    "sslmode": "require"}


def test_a_database_that_is_not_postgresql_is_refused_clearly():
    with pytest.raises(ImproperlyConfigured, match="PostgresBroker needs PostgreSQL.*conninfo"):
        conninfo_from({"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}, "default")
    with pytest.raises(ImproperlyConfigured, match="no 'elsewhere' entry"):
        PostgresBroker(database="elsewhere")
    [error] = configuration_errors({"database": "elsewhere"})
    assert error.id == "inbox.E009"
    assert configuration_errors({"conninfo": "postgresql://db/site"}) == []


def test_the_channel_is_the_sites_and_always_a_valid_name(settings):
    ours = default_channel()
    assert ours.startswith("inbox_") and len(ours) <= 63
    settings.SECRET_KEY = "another-site-" + "x" * 40
    assert default_channel() != ours
    assert channel_name("my_site") == "my_site"
    for name in ("inbox:prod:", "x" * 64, "Ünïcode"):
        assert channel_name(name).startswith("inbox_") and len(channel_name(name)) <= 63


# -- outages --------------------------------------------------------------------------------------


@postgres
def test_the_listener_reconnects_after_the_server_drops_it_and_streams_resync(broker, caplog):
    with broker.subscribe(["auth.user:3"]) as subscription:
        ready(subscription)
        first_pid = broker.listener_pid
        assert first_pid is not None
        with caplog.at_level(logging.WARNING, logger="inbox.events"):
            terminate(broker.conninfo, first_pid)
            # On reconnecting, every local stream is told to re-read its badge...
            assert Event(recipient="auth.user:3") in receive(subscription, timeout=15)
        assert broker.listener_pid not in (None, first_pid)
        # ...and events flow again.
        broker.publish([Event(recipient="auth.user:3", new=("after",))])
        assert kept(receive(subscription)) == [("auth.user:3", ("after",), ())]
    assert caplog.text.count("Lost the PostgreSQL connection") == 1
    assert caplog.text.count("Reconnected to PostgreSQL") == 1


@postgres
def test_a_publish_after_the_server_dropped_the_publishing_connection_still_arrives(broker):
    with broker.subscribe(["auth.user:4"]) as subscription:
        ready(subscription)
        terminate(broker.conninfo, publisher_pid(broker))
        broker.publish([Event(recipient="auth.user:4", new=("through a fresh connection",))])
        assert kept(receive(subscription)) == [("auth.user:4", ("through a fresh connection",), ())]
        assert broker.circuit.closed


def test_a_publish_while_the_server_is_unreachable_neither_raises_nor_retries(monkeypatch, caplog):
    broker = PostgresBroker(conninfo=f"postgresql://nobody@127.0.0.1:{free_port()}/nothing", channel="unreachable")
    attempts: list[str] = []
    connect = psycopg.connect

    def counting(*args: Any, **kwargs: Any) -> Any:
        attempts.append("connect")
        return connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", counting)  # a spy: every attempt still really connects
    try:
        with caplog.at_level(logging.ERROR, logger="inbox.events"):
            for _ in range(5):
                broker.publish([Event(recipient="auth.user:1")])
        assert not broker.circuit.closed
        assert attempts == ["connect"]  # later publishes return at once, without touching a socket
        assert caplog.text.count("unreachable") == 1
    finally:
        broker.close()


# -- what a listener accepts ----------------------------------------------------------------------


@postgres
def test_events_signed_by_another_site_and_malformed_payloads_are_dropped(broker, caplog):
    body = json.dumps({"shared": [], "items": [["auth.user:1", ["forged"]]]}).encode()
    forged = salted_hmac(signing.SIGNATURE_SALT, body, secret="another-site", algorithm="sha256").hexdigest()
    with broker.subscribe(["auth.user:1"]) as subscription:
        ready(subscription)
        with caplog.at_level(logging.WARNING, logger="inbox.events"):
            with psycopg.connect(broker.conninfo, autocommit=True) as other_site:
                for payload in (f"{forged}.{body.decode()}", f"{forged}.{body.decode()}",
                                signing.sign(b"not json").decode(), signing.sign(b'{"items": 1}').decode()):
                    other_site.execute("SELECT pg_notify(%s, %s)", [broker.channel, payload])
            broker.publish([Event(recipient="auth.user:1", new=("ours",))])  # published last: arrives last
            assert kept(receive(subscription)) == [("auth.user:1", ("ours",), ())]
    assert caplog.text.count("signature is not this site's") == 1
    assert caplog.text.count("malformed") == 2


@postgres
def test_details_never_cross_the_database(broker, raw):
    details = ({"uid": "u1", "message": "secret-ish preview", "level": 20},)
    with broker.subscribe(["auth.user:2"]) as subscription:
        ready(subscription)
        broker.publish([Event(recipient="auth.user:2", new=("u1",), details=details)])
        assert receive(subscription) == [Event(recipient="auth.user:2", new=("u1",))]
    assert not any("secret-ish" in payload for payload in raw.payloads(quiet=0.2))


# -- end to end through send() --------------------------------------------------------------------


@pytest.fixture
def site_broker(settings, django_db_setup) -> Iterator[PostgresBroker]:
    """The PostgreSQL broker as the site's broker, with its default options (Django's default database)."""
    # Changing INBOX builds a new broker: fixtures that change it go first (the one built here is closed).
    settings.INBOX = {**settings.INBOX, "BROKER": "inbox.events.postgres.PostgresBroker"}
    events.reset_broker()
    broker = events.get_broker()
    assert isinstance(broker, PostgresBroker)
    yield broker
    broker.close()
    events.reset_broker()


@postgres
@pytest.mark.django_db(transaction=True)
def test_send_reaches_a_subscription_through_publish_on_commit(alice, site_broker):
    with site_broker.subscribe([label(key_of(alice))]) as subscription:
        ready(subscription)
        [sent] = notifier.send("Hello through PostgreSQL", alice)
        notifier.send("Psst", alice, silent=True)
        received = receive(subscription, count=2)
    assert [event.new for event in received] == [(str(sent.uid),), ()]
    assert [item["message"] for item in received[1].silent] == ["Psst"]
    assert received[0].details == ()  # the stream reads the toast from the database, scoped to its recipients


@postgres
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_send_publishes_nothing(alice, site_broker):
    from django.db import transaction

    with site_broker.subscribe([label(key_of(alice))]) as subscription:
        ready(subscription)
        with pytest.raises(RuntimeError), transaction.atomic():
            notifier.send("never committed", alice)
            raise RuntimeError
        [committed] = notifier.send("committed", alice)
        # Had the rolled-back send published, its event would have come first.
        assert [event.new for event in receive(subscription)] == [(str(committed.uid),)]


@postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_stream_connections")
def test_a_stream_shows_the_toast_it_read_from_the_database(client, alice, fast_streams, site_broker):
    import asyncio

    from django.core.asgi import get_asgi_application

    from inbox.asgi import with_inbox_events
    from tests.test_sse import bodies, collect, scope_for

    client.force_login(alice)
    app = with_inbox_events(get_asgi_application())
    messages = asyncio.run(collect(app, scope_for(client), publish=lambda: notifier.send("Read back by uid", alice),
                                   until=lambda sent: b"event: toast" in bodies(sent)))
    body = bodies(messages)
    assert b"Read back by uid" in body and b"1 unread notification" in body
