"""Issue 15: what streams read before a delivery comes in one hop per tick, and a broadcast's toast
is rendered once — without any stream ever showing another recipient's notification."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from typing import Any, cast

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inbox import events, stats
from inbox.events.base import Event
from inbox.recipients import keys_of
from inbox.services import notifier
from inbox.sse import delivery, sessions, stream
from inbox.sse.stream import InboxStream
from tests.test_sse import close_stream_connections, events_in  # noqa: F401


@pytest.mark.django_db
def test_bare_uids_of_many_streams_share_one_query_and_each_keeps_only_its_own(alice, bob, broker):
    [mine] = notifier.send("alice's note", alice)
    [theirs] = notifier.send("bob's private note", bob)
    [alice_key], [bob_key] = keys_of([alice]), keys_of([bob])
    # alice's stream is told (by a forged or mistaken event) about bob's notification too.
    alice_ask = delivery.Ask.of(None, [alice_key], [str(mine.uid), str(theirs.uid)])
    bob_ask = delivery.Ask.of(None, [bob_key], [str(theirs.uid)])
    with CaptureQueriesContext(connection) as queries:
        readings = delivery.read([alice_ask, bob_ask])
    assert len(queries) == 2  # the counts of both, and the details of both
    assert [item["message"] for item in readings[alice_ask].details] == ["alice's note"]
    assert [item["message"] for item in readings[bob_ask].details] == ["bob's private note"]
    assert readings[alice_ask].counts.unread == 1 and readings[bob_ask].counts.unread == 1


@pytest.mark.django_db
def test_a_signed_out_stream_gets_nothing_read_for_it(alice, bob, broker):
    [theirs] = notifier.send("bob's private note", bob)
    bob_client = Client()
    bob_client.force_login(bob)
    owner = sessions.Owner(bob_client.session.session_key, str(bob.pk))
    ask = delivery.Ask.of(owner, keys_of([bob]), [str(theirs.uid)])
    assert delivery.read([ask])[ask].signed_in
    bob_client.logout()
    reading = delivery.read([ask])[ask]
    assert not reading.signed_in and reading.details == () and reading.counts == stats.Counts()


@pytest.mark.django_db(transaction=True)
def test_streams_woken_together_read_sessions_counts_and_details_in_one_hop(alice, bob, monkeypatch,
                                                                              session_check_calls):
    [sent] = notifier.send("for alice", alice)
    alice_client, bob_client = Client(), Client()
    alice_client.force_login(alice)
    bob_client.force_login(bob)
    a = sessions.Owner(alice_client.session.session_key, str(alice.pk))
    b = sessions.Owner(bob_client.session.session_key, str(bob.pk))
    gone = sessions.Owner("no-such-session", str(alice.pk))
    hops: list[list[delivery.Ask]] = []
    original = delivery.read

    def counting(asks: list[delivery.Ask]) -> dict[delivery.Ask, delivery.Reading]:
        hops.append(list(asks))
        return original(asks)

    monkeypatch.setattr(delivery, "read", counting)
    batcher = delivery.DeliveryReads()
    asks = [delivery.Ask.of(a, keys_of([alice]), [str(sent.uid)]), delivery.Ask.of(b, keys_of([bob])),
            delivery.Ask.of(gone, keys_of([alice]), [str(sent.uid)])]

    async def woken_together() -> list[delivery.Reading]:
        return await asyncio.gather(*[batcher.ask(ask) for ask in asks])

    for_alice, for_bob, for_gone = asyncio.run(woken_together())
    assert len(hops) == 1 and len(session_check_calls) == 1
    assert for_alice.signed_in and for_alice.counts.unread == 1 and for_alice.details[0]["message"] == "for alice"
    assert for_bob.signed_in and for_bob.counts.unread == 0 and for_bob.details == ()
    assert for_gone == delivery.SIGNED_OUT


@pytest.mark.django_db(transaction=True)
def test_a_stream_delivers_bare_events_through_the_shared_read_without_leaking(alice, bob, broker, fast_streams):
    [theirs] = notifier.send("bob's private note", bob)
    [mine] = notifier.send("alice's own note", alice)

    async def deliver() -> bytes:
        inbox_stream = InboxStream([alice])
        chunks = cast(AsyncGenerator[bytes, None], inbox_stream.aiter())
        opening = await chunks.__anext__()
        assert events_in(opening) == ["badge"]
        channel = f"auth.user:{alice.pk}"
        events.get_broker().publish([Event(recipient=channel, new=(str(mine.uid), str(theirs.uid)))])
        burst = await chunks.__anext__()
        await chunks.aclose()
        return burst

    burst = asyncio.run(deliver())
    assert events_in(burst) == ["badge", "toast", "inbox"]
    assert b"alice&#x27;s own note" in burst and b"private" not in burst


@pytest.fixture
def toast_renders(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Each rendering of the toast template by the stream (its context's toast)."""
    stream._shared_toast.cache_clear()
    renders: list[dict[str, Any]] = []
    original = stream.render_to_string

    def counting(template: str, context: dict[str, Any]) -> str:
        if template == "inbox/toasts.html#toast":
            renders.append(context["toast"])
        return original(template, context)

    monkeypatch.setattr(stream, "render_to_string", counting)
    yield renders
    stream._shared_toast.cache_clear()


@pytest.mark.django_db
def test_a_broadcast_toast_is_rendered_once_and_links_each_recipient_to_their_own(alice, bob, broker, toast_renders):
    sent = notifier.send("to everyone", [alice, bob])
    chunks = {}
    for recipient in (alice, bob):
        [notification] = [n for n in sent if n.recipient_id == str(recipient.pk)]
        chunks[recipient.pk] = (notification, InboxStream([recipient]).render_now(
            [Event(recipient=f"auth.user:{recipient.pk}", new=(str(notification.uid),))]))
    assert len(toast_renders) == 1
    (alice_note, alice_chunk), (bob_note, bob_chunk) = chunks[alice.pk], chunks[bob.pk]
    alice_url, bob_url = (reverse("inbox:detail", args=[n.uid]).encode() for n in (alice_note, bob_note))
    assert alice_url in alice_chunk and bob_url not in alice_chunk
    assert bob_url in bob_chunk and alice_url not in bob_chunk
    assert alice_chunk.replace(alice_url, b"") == bob_chunk.replace(bob_url, b"")
    # The same as rendering it for that stream alone.
    uncached = stream._render_toast({"text": "to everyone", "level": "info", "timeout": None,
                                     "url": reverse("inbox:detail", args=[alice_note.uid])})
    assert uncached in alice_chunk


@pytest.mark.django_db
def test_a_message_holding_the_placeholder_uid_is_rendered_whole(alice, broker, toast_renders):
    text = f"see {stream.PLACEHOLDER_UID}"
    [sent] = notifier.send(text, alice)
    chunk = InboxStream([alice]).render_now([Event(recipient=f"auth.user:{alice.pk}", new=(str(sent.uid),))])
    assert f"see {stream.PLACEHOLDER_UID}".encode() in chunk
    assert reverse("inbox:detail", args=[sent.uid]).encode() in chunk
    assert chunk.count(str(sent.uid).encode()) == 1


@pytest.mark.django_db
def test_a_toast_is_rendered_again_in_another_language(alice, broker, toast_renders):
    from django.utils import translation

    [sent] = notifier.send("hello", alice)
    batch = [Event(recipient=f"auth.user:{alice.pk}", new=(str(sent.uid),))]
    with translation.override("en"):
        InboxStream([alice]).render_now(batch)
    with translation.override("fr"):
        InboxStream([alice]).render_now(batch)
    assert len(toast_renders) == 2
