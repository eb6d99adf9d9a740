"""Issue 8, defect 3: an open stream ends with the session that opened it; streams are capped."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from django.contrib.sessions.models import Session
from django.core.asgi import get_asgi_application
from django.test import Client
from django.utils import timezone

from inbox.asgi import with_inbox_events
from inbox.services import notifier
from inbox.sse import sessions
from inbox.sse.limits import registry
from tests.test_sse import EVENTS, bodies, close_stream_connections, collect, scope_for  # noqa: F401

PING = b": ping\n\n"


def sign_out(client: Client, user) -> None:
    client.logout()


def change_password(client: Client, user) -> None:
    user.set_password("new password")
    user.save()


def deactivate(client: Client, user) -> None:
    user.is_active = False
    user.save()


def expire(client: Client, user) -> None:
    Session.objects.update(expire_date=timezone.now() - datetime.timedelta(seconds=1))


ENDINGS = [sign_out, change_password, deactivate, expire]


def ended(messages: list[dict]) -> bool:
    return any(m["type"] == "http.response.body" and not m.get("more_body", False) for m in messages)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ending", ENDINGS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mounted", [True, False], ids=["asgi-mount", "django-view-under-asgi"])
def test_an_asgi_stream_ends_with_its_session(client, alice, broker, fast_streams, ending, mounted):
    """After logout, a password change, deactivation or expiry, the open stream ends within a
    heartbeat, and a notification sent after it is never shown on it (a stolen cookie stops reading)."""
    client.force_login(alice)
    django_app = get_asgi_application()
    app = with_inbox_events(django_app) if mounted else django_app

    def end_then_send():
        ending(client, alice)
        notifier.send("secret after the session ended", alice)

    messages = asyncio.run(collect(app, scope_for(client), publish=end_then_send, until=ended, timeout=10))
    body = bodies(messages)
    assert body.startswith(b"retry:") and b"secret after" not in body
    assert ended(messages)


@pytest.mark.django_db
@pytest.mark.parametrize("ending", ENDINGS, ids=lambda f: f.__name__)
def test_a_wsgi_stream_ends_with_its_session(client, alice, broker, fast_streams, settings, ending,
                                              django_capture_on_commit_callbacks):
    settings.INBOX = {**settings.INBOX, "SSE_WSGI_SECONDS": 30}
    client.force_login(alice)
    response = client.get(EVENTS)
    chunks = iter(response.streaming_content)
    next(chunks)
    assert next(chunks) == PING  # alive while signed in
    ending(client, alice)
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("secret after the session ended", alice)
    rest = list(chunks)  # ends within a heartbeat, long before SSE_WSGI_SECONDS
    response.close()
    assert len(rest) <= 1 and all(chunk == PING for chunk in rest), rest


@pytest.mark.django_db
def test_a_stolen_cookie_stops_reading_after_logout(alice, broker):
    """The thief's copy of the session key is worth nothing once the owner signs out."""
    owner = Client()
    owner.force_login(alice)
    session_key = owner.session.session_key
    stolen = sessions.Owner(session_key=session_key, user_pk=str(alice.pk))
    assert sessions.signed_in(stolen)
    assert not sessions.signed_in(sessions.Owner(session_key=session_key, user_pk="999"))  # another user
    owner.logout()
    assert not sessions.signed_in(stolen)
    assert not Session.objects.filter(session_key=session_key).exists()


@pytest.mark.django_db(transaction=True)
def test_streams_woken_together_check_their_sessions_in_one_thread_hop(alice, bob, session_check_calls):
    calls = session_check_calls
    alice_client, bob_client = Client(), Client()
    alice_client.force_login(alice)
    bob_client.force_login(bob)
    a = sessions.Owner(alice_client.session.session_key, str(alice.pk))
    b = sessions.Owner(bob_client.session.session_key, str(bob.pk))
    gone = sessions.Owner("no-such-session", str(alice.pk))
    checker = sessions.SessionChecks()

    async def woken_together():
        return await asyncio.gather(*[checker.signed_in(owner) for owner in (a, a, b, gone, b)])

    assert asyncio.run(woken_together()) == [True, True, True, False, True]
    assert len(calls) == 1 and set(calls[0]) == {a, b, gone}


async def open_streams(app, scopes: list[dict]) -> tuple[list[list[dict]], asyncio.Event, list[asyncio.Task]]:
    """Open one stream per scope, one after the other (each waits for the previous one's badge)."""
    stop = asyncio.Event()
    logs: list[list[dict]] = []
    tasks = []
    for scope in scopes:
        log: list[dict] = []
        answered = asyncio.Event()
        started = [False]

        async def receive(started=started):
            if not started[0]:
                started[0] = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await stop.wait()
            return {"type": "http.disconnect"}

        async def send(message, log=log, answered=answered):
            log.append(message)
            if message["type"] == "http.response.body":
                answered.set()

        tasks.append(asyncio.ensure_future(app(scope, receive, send)))
        await asyncio.wait_for(answered.wait(), 10)
        logs.append(log)
    return logs, stop, tasks


@pytest.mark.django_db(transaction=True)
def test_past_the_session_cap_the_oldest_stream_of_that_session_closes(client, alice, broker, settings):
    settings.INBOX = {**settings.INBOX, "SSE_HEARTBEAT": 30, "SSE_MAX_STREAMS_PER_SESSION": 2}
    client.force_login(alice)
    app = with_inbox_events(get_asgi_application())
    owner = sessions.Owner(client.session.session_key, str(alice.pk))

    async def scenario():
        logs, stop, tasks = await open_streams(app, [scope_for(client)] * 3)
        await asyncio.wait_for(tasks[0], 10)  # the oldest ends by itself
        still_open = [task.done() for task in tasks[1:]]
        books = registry.open_streams(owner)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        return logs, still_open, books

    logs, still_open, books = asyncio.run(scenario())
    assert ended(logs[0]) and still_open == [False, False] and books == (2, 2)
    assert all(log[0]["status"] == 200 for log in logs)
    assert registry.open_streams(owner) == (0, 0)  # every ended stream gave its place back


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mounted", [True, False], ids=["asgi-mount", "django-view-under-asgi"])
def test_past_the_user_cap_a_new_stream_is_refused_with_429(alice, broker, settings, mounted):
    settings.INBOX = {**settings.INBOX, "SSE_HEARTBEAT": 30, "SSE_MAX_STREAMS_PER_USER": 2}
    clients = [Client(), Client(), Client()]
    for each in clients:
        each.force_login(alice)  # three browsers, one session each
    django_app = get_asgi_application()
    app = with_inbox_events(django_app) if mounted else django_app

    async def scenario():
        logs, stop, tasks = await open_streams(app, [scope_for(each) for each in clients])
        refused_done = await asyncio.wait_for(tasks[2], 10)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        return logs, refused_done

    logs, _ = asyncio.run(scenario())
    assert [log[0]["status"] for log in logs] == [200, 200, 429]
    assert b"Too many open notification streams" in bodies(logs[2])


@pytest.mark.django_db
def test_wsgi_view_refuses_past_the_user_cap_and_frees_places_on_close(client, alice, broker, settings, fast_streams):
    settings.INBOX = {**settings.INBOX, "SSE_MAX_STREAMS_PER_USER": 1}
    client.force_login(alice)
    first = client.get(EVENTS)
    assert first.status_code == 200
    refused = client.get(EVENTS)
    assert refused.status_code == 429 and refused["Content-Type"].startswith("text/plain")
    list(first.streaming_content)  # the stream ends (SSE_WSGI_SECONDS): its place is given back
    again = client.get(EVENTS)
    assert again.status_code == 200
    again.close()


@pytest.mark.django_db
def test_a_stream_without_a_session_user_skips_the_session_check(alice, broker, fast_streams):
    """A custom resolver (a token, a kiosk) opens streams with no session: nothing to re-check."""
    from inbox.sse.stream import InboxStream

    stream = InboxStream([alice])
    chunks = stream.iter()
    next(chunks)
    assert next(chunks) == PING and next(chunks) == PING
    chunks.close()


@pytest.mark.django_db
def test_many_sessions_are_checked_in_two_queries_and_each_verdict_is_right(
    alice, bob, carol, django_assert_num_queries
):
    """A broadcast re-checks a thousand sessions at once: one read of the sessions, one of the users."""
    from django.contrib.auth.models import User

    clients = {}
    for user in (alice, bob, carol):
        clients[user.username] = Client()
        clients[user.username].force_login(user)
    dave = User.objects.create_user("dave", password="pw")
    clients["dave"] = Client()
    clients["dave"].force_login(dave)
    owners = {
        name: sessions.Owner(client.session.session_key, str(User.objects.get(username=name).pk))
        for name, client in clients.items()
    }
    clients["bob"].logout()                               # signed out
    carol.is_active = False                               # deactivated
    carol.save()
    dave.set_password("changed")                          # another auth hash
    dave.save()
    stolen = sessions.Owner(owners["alice"].session_key, str(bob.pk))  # alice's cookie, claiming bob
    with django_assert_num_queries(2):
        verdicts = sessions.signed_in_all([*owners.values(), stolen])
    assert verdicts == {
        owners["alice"]: True, owners["bob"]: False, owners["carol"]: False, owners["dave"]: False, stolen: False,
    }
