"""Issue 12, "Tokens and the live stream": a short-lived signed token opens the event stream (for
EventSource, which cannot send headers, and native apps); ``?format=json`` sends data."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.models import Session
from django.core import signing
from django.core.asgi import get_asgi_application
from django.test import Client

from inbox import stats
from inbox.asgi import with_inbox_events
from inbox.events.base import Event
from inbox.services import notifier
from inbox.sse import sessions, tokens
from inbox.sse.limits import registry
from inbox.sse.stream import InboxStream
from tests.test_live_sessions import ended, open_streams
from tests.test_sse import EVENTS, bodies, close_stream_connections, collect, scope_for  # noqa: F401

PING = b": ping\n\n"
DOC = Path(__file__).resolve().parent.parent / "docs" / "live.md"


# -- helpers --------------------------------------------------------------------------------------


def parse(body: bytes) -> list[tuple[str, str]]:
    """(event, data) pairs of a Server-Sent Events body; comments and retry lines left out."""
    found = []
    for block in body.decode().split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
        if name is not None:
            found.append((name, "\n".join(data)))
    return found


def names(body: bytes) -> list[str]:
    return [name for name, _ in parse(body)]


def query(**params: str) -> str:
    return urlencode(params)


def token_scope(token: str | None = None, client: Client | None = None, **params: str) -> dict:
    """An ASGI scope for the events URL: no cookie unless ``client`` is given."""
    scope = scope_for(client or Client())
    if token is not None:
        params = {"token": token, **params}
    scope["query_string"] = urlencode(params).encode()
    return scope


def mount() -> object:
    return with_inbox_events(get_asgi_application())


def chunks_of(response: Any) -> Iterator[bytes]:
    return iter(response.streaming_content)


def grant_of(token: str) -> tokens.Grant:
    grant = tokens.read(token)
    assert grant is not None
    return grant


def close(response: Any) -> None:
    """End a streaming response as the test client does when its content is exhausted: without
    ``close_old_connections`` on ``request_finished``, which would close the test transaction's
    connection (on PostgreSQL every later query of the test would fail)."""
    from django.core.signals import request_finished
    from django.db import close_old_connections

    wrapper = getattr(response, "_iterator", None)
    if inspect.isgenerator(wrapper) and inspect.getgeneratorstate(wrapper) == inspect.GEN_SUSPENDED:
        wrapper.close()  # the test client's closing wrapper, once started, does exactly that
        return
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def fetch(client: Client, *args, **kwargs):
    """GET through the view and close any stream at once: a refusal has none, and should a bug
    open one anyway, it must not outlive the test (nor hold its place under the caps)."""
    response = client.get(*args, **kwargs)
    if response.streaming:
        close(response)
    return response


def refusal(app, scope) -> list[dict]:
    return asyncio.run(collect(app, scope, until=lambda sent: len(sent) >= 2))


def issued_ago(user, seconds: int, monkeypatch) -> str:
    """A token signed ``seconds`` ago: time passes without sleeping."""
    with monkeypatch.context() as patch:
        patch.setattr(signing.TimestampSigner, "timestamp",
                      lambda self: signing.b62_encode(int(time.time()) - seconds))
        return tokens.issue(user)


# -- issuing and reading --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_token_reads_back_as_its_user_in_one_query(alice, django_assert_num_queries):
    token = tokens.issue(alice)
    assert isinstance(token, str) and len(token) < 200
    with django_assert_num_queries(1):
        grant = tokens.read(token)
    assert grant is not None and grant.user == alice
    assert grant.owner.session_key is None and grant.owner.user_pk == str(alice.pk)
    assert tokens.max_age() == 30


@pytest.mark.django_db
def test_tokens_are_for_signed_in_active_users(alice):
    with pytest.raises(ValueError):
        tokens.issue(AnonymousUser())
    alice.is_active = False
    with pytest.raises(ValueError):
        tokens.issue(alice)


@pytest.mark.django_db
@pytest.mark.parametrize("garbage", [None, 42, 4.2, b"bytes", ["a", "b"], {"token": "x"}, object(), "é:\ud800:x"],
                         ids=lambda value: type(value).__name__)
def test_reading_garbage_gives_none(garbage):
    assert tokens.read(garbage) is None


@pytest.mark.django_db
def test_the_token_binds_the_auth_hash_and_honours_key_fallbacks(alice, settings):
    settings.SECRET_KEY = "the old key"
    token = tokens.issue(alice)
    settings.SECRET_KEY = "the new key"
    assert tokens.read(token) is None  # signed with a key that is no longer accepted
    settings.SECRET_KEY_FALLBACKS = ["the old key"]
    grant = tokens.read(token)  # rotating keys: both the signature and the auth hash still match
    assert grant is not None and grant.user == alice


@pytest.mark.django_db
def test_a_token_still_opens_just_before_its_max_age_and_not_after(alice, monkeypatch, settings):
    assert tokens.read(issued_ago(alice, 25, monkeypatch)) is not None
    assert tokens.read(issued_ago(alice, 31, monkeypatch)) is None
    settings.INBOX = {**settings.INBOX, "STREAM_TOKEN_MAX_AGE": 60}
    assert tokens.read(issued_ago(alice, 31, monkeypatch)) is not None


# -- refused tokens: 401, never a stream ----------------------------------------------------------


def _forged_key(alice, monkeypatch):
    return signing.dumps([str(alice.pk), sessions.current_auth_digest(alice)], salt=tokens.SALT, key="not ours")


def _other_salt(alice, monkeypatch):
    return signing.dumps([str(alice.pk), sessions.current_auth_digest(alice)])  # a validly signed non-token


def _swapped_user(alice, monkeypatch):
    bob = User.objects.create_user("bob-swapped", password="pw")
    theirs, ours = tokens.issue(bob).split(":", 1), tokens.issue(alice).split(":", 1)
    return f"{theirs[0]}:{ours[1]}"  # bob's payload under alice's signature


def _expired(alice, monkeypatch):
    return issued_ago(alice, 31, monkeypatch)


def _wrong_shape(alice, monkeypatch):
    return signing.dumps({"user": str(alice.pk)}, salt=tokens.SALT)


def _number_pk(alice, monkeypatch):
    return signing.dumps([alice.pk, sessions.current_auth_digest(alice)], salt=tokens.SALT)


def _bad_pk(alice, monkeypatch):
    return signing.dumps(["not-a-pk", ""], salt=tokens.SALT)


def _inactive(alice, monkeypatch):
    token = tokens.issue(alice)
    alice.is_active = False
    alice.save()
    return token


def _password_changed(alice, monkeypatch):
    token = tokens.issue(alice)
    alice.set_password("changed")
    alice.save()
    return token


def _deleted(alice, monkeypatch):
    token = tokens.issue(alice)
    alice.delete()
    return token


def _literal(name, value):
    def make(alice, monkeypatch):
        return value

    make.__name__ = name
    return make


REFUSED = [
    _forged_key, _other_salt, _swapped_user, _expired, _wrong_shape, _number_pk, _bad_pk,
    _inactive, _password_changed, _deleted,
    _literal("empty", ""), _literal("garbage", "garbage"), _literal("one_colon", "a:b"),
    _literal("two_colons", "a:b:c"), _literal("not_ascii", "é:\x00:ü"), _literal("huge", "x" * 100_000),
]


@pytest.mark.django_db
@pytest.mark.parametrize("make", REFUSED, ids=lambda make: make.__name__.strip("_"))
def test_the_view_refuses_a_bad_token_with_401(alice, broker, monkeypatch, make):
    token = make(alice, monkeypatch)
    response = fetch(Client(), EVENTS, {"token": token})
    assert response.status_code == 401 and not response.streaming
    assert response["Content-Type"] == "text/plain; charset=utf-8" and b"invalid or has expired" in response.content


@pytest.mark.django_db
def test_a_bad_token_is_refused_even_beside_a_good_session(client, alice, broker):
    """The token decides, never the cookie: a broken token is not quietly replaced by the session."""
    client.force_login(alice)
    assert fetch(client, EVENTS, {"token": "garbage"}).status_code == 401
    assert fetch(client, f"{EVENTS}?token={tokens.issue(alice)}&token=again").status_code == 401  # repeated


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("make", REFUSED, ids=lambda make: make.__name__.strip("_"))
def test_the_mount_refuses_a_bad_token_with_401(alice, broker, monkeypatch, make):
    token = make(alice, monkeypatch)
    messages = refusal(mount(), token_scope(token))
    assert messages[0]["status"] == 401 and b"invalid or has expired" in bodies(messages)
    assert dict(messages[0]["headers"])[b"content-type"] == b"text/plain; charset=utf-8"


# -- a token opens the right user's stream ---------------------------------------------------------


@pytest.mark.django_db
def test_a_token_opens_its_users_stream_on_the_view(alice, bob, broker, fast_streams,
                                                    django_capture_on_commit_callbacks):
    notifier.send("waiting for alice", alice)
    response = Client().get(EVENTS, {"token": tokens.issue(alice)})  # no cookie at all
    try:
        assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
        chunks = chunks_of(response)
        opening = next(chunks)
        assert opening.startswith(b"retry: 2000\n\n") and b"1 unread notification" in opening
        with django_capture_on_commit_callbacks(execute=True):
            notifier.send("for bob only", bob)
        assert next(chunks) == PING  # another user's events never appear
        with django_capture_on_commit_callbacks(execute=True):
            notifier.send("<b>new</b> for alice", alice)
        update = next(chunks)
        assert names(update) == ["badge", "toast", "inbox"]
        assert b"2 unread notifications" in update and b"&lt;b&gt;new&lt;/b&gt; for alice" in update
        assert b"bob" not in b"".join([opening, update])
    finally:
        close(response)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mounted", [True, False], ids=["asgi-mount", "django-view-under-asgi"])
def test_a_token_opens_its_users_stream_under_asgi(alice, bob, broker, fast_streams, mounted):
    notifier.send("waiting for alice", alice)
    app = mount() if mounted else get_asgi_application()

    def publish():
        notifier.send("for bob only", bob)
        broker.publish([Event(recipient=f"auth.user:{bob.pk}", new=("x",))])
        notifier.send("second for alice", alice)

    messages = asyncio.run(collect(app, token_scope(tokens.issue(alice)), publish=publish,
                                   until=lambda sent: b"event: toast" in bodies(sent)))
    assert messages[0]["status"] == 200
    body = bodies(messages)
    assert b"1 unread notification" in body and b"2 unread notifications" in body
    assert b"second for alice" in body and b"for bob" not in body


@pytest.mark.django_db(transaction=True)
def test_the_mount_reads_no_session_for_a_token(client, alice, bob, broker, fast_streams):
    """Bob's cookie comes along with alice's token: the stream is alice's."""
    notifier.send("for alice", alice)
    notifier.send("for bob", bob)
    notifier.send("for bob", bob)
    client.force_login(bob)
    messages = asyncio.run(collect(mount(), token_scope(tokens.issue(alice), client), until=lambda sent: len(sent) >= 2))
    assert b"1 unread notification" in bodies(messages) and b"2 unread" not in bodies(messages)


SEEN: list = []


def recording_resolver(request):
    SEEN.append((request.user, request.session.session_key, dict(request.session)))
    return [request.user] if request.user.is_authenticated else []


@pytest.mark.django_db
def test_the_resolver_sees_the_tokens_user_and_no_session(client, alice, bob, broker, fast_streams, settings):
    settings.INBOX = {**settings.INBOX, "RECIPIENTS_RESOLVER": "tests.test_stream_tokens.recording_resolver"}
    client.force_login(bob)
    bobs_session = client.session.session_key
    SEEN.clear()
    response = client.get(EVENTS, {"token": tokens.issue(alice)})
    try:
        assert response.status_code == 200
        assert SEEN == [(alice, None, {})]
        # The browser's own session is left alone: not flushed, no cookie set or cleared.
        assert Session.objects.filter(session_key=bobs_session).exists() and "sessionid" not in response.cookies
    finally:
        close(response)
        SEEN.clear()


@pytest.mark.django_db
def test_the_token_request_forgets_what_the_cookies_request_resolved(rf, alice, bob):
    """A middleware may have resolved the cookie user's recipients already: the copy starts afresh."""
    from django.contrib.sessions.backends.db import SessionStore

    from inbox import recipients

    request = rf.get(EVENTS)
    request.user, request.session = bob, SessionStore()
    assert recipients.for_request(request) == [bob]  # cached on the request
    seen = tokens.request_as(request, alice)
    assert recipients.for_request(seen) == [alice] and asyncio.run(seen.auser()) == alice
    assert seen.session is not request.session and seen.session.session_key is None
    assert request.user == bob and recipients.for_request(request) == [bob]  # the original is untouched


# -- an open token stream ends with its user's password or activity ------------------------------


def change_password(user) -> None:
    user.set_password("new password")
    user.save()


def deactivate(user) -> None:
    user.is_active = False
    user.save()


def delete(user) -> None:
    User.objects.filter(pk=user.pk).delete()


ENDINGS = [change_password, deactivate, delete]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ending", ENDINGS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mounted", [True, False], ids=["asgi-mount", "django-view-under-asgi"])
def test_an_asgi_token_stream_ends_with_its_users_password_or_activity(alice, broker, fast_streams, ending, mounted):
    app = mount() if mounted else get_asgi_application()
    token = tokens.issue(alice)

    def end_then_send():
        if ending is not delete:
            ending(alice)
            notifier.send("secret after the change", alice)
        else:
            ending(alice)

    messages = asyncio.run(collect(app, token_scope(token), publish=end_then_send, until=ended, timeout=10))
    body = bodies(messages)
    assert body.startswith(b"retry:") and b"secret after" not in body
    assert ended(messages)


@pytest.mark.django_db
@pytest.mark.parametrize("ending", ENDINGS, ids=lambda f: f.__name__)
def test_a_wsgi_token_stream_ends_with_its_users_password_or_activity(alice, broker, fast_streams, settings, ending,
                                                                       django_capture_on_commit_callbacks):
    settings.INBOX = {**settings.INBOX, "SSE_WSGI_SECONDS": 30}
    response = Client().get(EVENTS, {"token": tokens.issue(alice)})
    try:
        chunks = chunks_of(response)
        next(chunks)
        assert next(chunks) == PING  # alive while the user holds
        ending(alice)
        if ending is not delete:
            with django_capture_on_commit_callbacks(execute=True):
                notifier.send("secret after the change", alice)
        rest = list(chunks)  # ends within a heartbeat, long before SSE_WSGI_SECONDS
        assert len(rest) <= 1 and all(chunk == PING for chunk in rest), rest
    finally:
        close(response)


@pytest.mark.django_db
def test_an_open_token_stream_outlives_its_tokens_max_age(alice, broker, fast_streams, settings, monkeypatch):
    """The token's age governs opening only: the stream goes on while the user holds."""
    settings.INBOX = {**settings.INBOX, "SSE_WSGI_SECONDS": 30}
    token = tokens.issue(alice)
    response = Client().get(EVENTS, {"token": token})
    try:
        chunks = chunks_of(response)
        next(chunks)
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 3600)  # an hour later, for the signer
        assert tokens.read(token) is None  # it could open nothing now...
        assert [next(chunks) for _ in range(3)] == [PING] * 3  # ...and the open stream goes on
    finally:
        close(response)


@pytest.mark.django_db
def test_token_and_session_streams_are_checked_together_in_three_queries(alice, bob, carol,
                                                                         django_assert_num_queries):
    """A broadcast wakes session and token streams together: one read of the sessions, one of the
    session users and one of the token users, with each verdict right."""
    browser = Client()
    browser.force_login(alice)
    by_session = sessions.Owner(browser.session.session_key, str(alice.pk))
    good = {user.username: grant_of(tokens.issue(user)).owner for user in (alice, bob, carol)}
    bob.set_password("changed")
    bob.save()
    carol.is_active = False
    carol.save()
    claims_bob = sessions.Owner.for_token(str(bob.pk), good["alice"].auth_digest)  # alice's hash, bob's pk
    gone = sessions.Owner.for_token("987654", good["alice"].auth_digest)
    owners = [by_session, *good.values(), claims_bob, gone]
    with django_assert_num_queries(3):
        verdicts = sessions.signed_in_all(owners)
    assert verdicts == {by_session: True, good["alice"]: True, good["bob"]: False, good["carol"]: False,
                        claims_bob: False, gone: False}
    with django_assert_num_queries(1):  # token streams alone: one query, whatever their number
        assert sessions.signed_in_all(list(good.values())) == {good["alice"]: True, good["bob"]: False,
                                                                 good["carol"]: False}


@pytest.mark.django_db(transaction=True)
def test_token_streams_woken_together_are_checked_in_one_thread_hop(alice, bob, session_check_calls):
    calls = session_check_calls
    a = grant_of(tokens.issue(alice)).owner
    b = grant_of(tokens.issue(bob)).owner
    checker = sessions.SessionChecks()

    async def woken_together():
        return await asyncio.gather(*[checker.signed_in(owner) for owner in (a, b, a)])

    assert asyncio.run(woken_together()) == [True, True, True]
    assert len(calls) == 1 and set(calls[0]) == {a, b}


# -- ?format=json ---------------------------------------------------------------------------------


COUNT_FIELDS = {"total", "unread", "unseen", "read", "seen", "archived", "starred"}


@pytest.mark.django_db
def test_the_json_stream_sends_counts_and_notification_data(client, alice, broker, fast_streams,
                                                            django_capture_on_commit_callbacks):
    notifier.send("waiting", alice)
    client.force_login(alice)  # any stream may ask for JSON: here a session one
    response = client.get(EVENTS, {"format": "json"})
    try:
        chunks = chunks_of(response)
        opening = next(chunks)
        assert opening.startswith(b"retry: 2000\n\n")
        [(name, data)] = parse(opening)
        assert name == "counts" and json.loads(data) == {**dict.fromkeys(COUNT_FIELDS, 0), "total": 1, "unread": 1,
                                                         "unseen": 1}
        with django_capture_on_commit_callbacks(execute=True):
            [sent] = notifier.send("<b>new</b> one", alice, url="/orders/7/")
        update = next(chunks)
        assert names(update) == ["counts", "notification"] and b"<div" not in update and b"<span" not in update
        counts, notification = (json.loads(data) for _, data in parse(update))
        assert counts["unread"] == 2 and counts["total"] == 2
        [item] = notification
        assert item["uid"] == str(sent.uid) and item["message"] == "<b>new</b> one" and item["url"] == "/orders/7/"
        assert set(item) >= {"uid", "message", "level", "category", "url", "sent_at"}
        with django_capture_on_commit_callbacks(execute=True):
            from inbox.services import manager

            manager.mark_all_read(alice)
        [(name, data)] = parse(next(chunks))  # a change with nothing new: counts only
        assert name == "counts" and json.loads(data)["unread"] == 0
    finally:
        close(response)


@pytest.mark.django_db(transaction=True)
def test_the_mount_sends_json_on_a_token_stream(alice, bob, broker, fast_streams):
    def publish():
        notifier.send("for bob", bob)
        notifier.send("for alice", alice)

    messages = asyncio.run(collect(
        mount(), token_scope(tokens.issue(alice), format="json"), publish=publish,
        until=lambda sent: b"event: notification" in bodies(sent),
    ))
    events = parse(bodies(messages))
    assert [name for name, _ in events] == ["counts", "counts", "notification"]
    assert json.loads(events[0][1])["unread"] == 0 and json.loads(events[1][1])["unread"] == 1
    assert [item["message"] for item in json.loads(events[2][1])] == ["for alice"]


@pytest.mark.django_db
def test_json_bursts_carry_silent_notifications_without_event_data(alice, broker):
    assert not stats.counts_for([alice]).total
    [stored] = notifier.send("stored", alice)
    silent = {"uid": "s", "message": "<i>psst</i>", "level": 30, "category": "", "url": "", "sent_at": "now"}
    chunk = InboxStream([alice], format="json").render_now(
        [Event(recipient="x", new=(str(stored.uid),), silent=(silent,))])
    [(_, counts), (_, data)] = parse(chunk)
    assert json.loads(counts)["unread"] == 1
    assert [item["message"] for item in json.loads(data)] == ["stored", "<i>psst</i>"]


@pytest.mark.django_db
def test_format_html_is_todays_stream_byte_for_byte(client, alice, broker, fast_streams):
    notifier.send("waiting", alice)
    client.force_login(alice)
    openings = []
    for params in ({}, {"format": "html"}):
        response = client.get(EVENTS, params)
        try:
            openings.append(next(chunks_of(response)))
        finally:
            close(response)
    assert openings[0] == openings[1] and names(openings[0]) == ["badge"]
    with pytest.raises(ValueError):
        InboxStream([alice], format="xml")


BAD_FORMATS = ["xml", "", "JSON", "json&format=html"]


@pytest.mark.django_db
@pytest.mark.parametrize("signed_in", [True, False], ids=["session", "anonymous"])
@pytest.mark.parametrize("bad", BAD_FORMATS)
def test_a_bad_format_is_a_400_on_the_view(client, alice, broker, bad, signed_in):
    if signed_in:
        client.force_login(alice)
    response = fetch(client, f"{EVENTS}?format={bad}")
    assert response.status_code == 400 and not response.streaming and b"format=json" in response.content


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bad", BAD_FORMATS)
def test_a_bad_format_is_a_400_on_the_mount(client, alice, broker, bad):
    scope = token_scope(tokens.issue(alice))
    scope["query_string"] += f"&format={bad}".encode()
    messages = refusal(mount(), scope)
    assert messages[0]["status"] == 400 and b"format=json" in bodies(messages)


@pytest.mark.django_db(transaction=True)
def test_a_query_that_is_not_utf8_is_a_400_on_the_mount(alice, broker):
    scope = token_scope()
    scope["query_string"] = b"format=\xff"
    assert refusal(mount(), scope)[0]["status"] == 400


# -- caps -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_token_streams_count_under_the_user_cap_on_the_view(client, alice, broker, settings, fast_streams):
    settings.INBOX = {**settings.INBOX, "SSE_MAX_STREAMS_PER_USER": 2}
    token = tokens.issue(alice)
    owner = grant_of(token).owner
    first = Client().get(EVENTS, {"token": token})
    second = Client().get(EVENTS, {"token": token})
    try:
        assert (first.status_code, second.status_code) == (200, 200)
        assert registry.open_streams(owner) == (0, 2)  # no session books for a token
        refused = fetch(Client(), EVENTS, {"token": token})
        assert refused.status_code == 429 and b"Too many open notification streams" in refused.content
        client.force_login(alice)  # token and session streams share the user's cap
        assert fetch(client, EVENTS).status_code == 429
    finally:
        close(first)
        close(second)
    assert registry.open_streams(owner) == (0, 0)  # closing gave the places back
    assert fetch(Client(), EVENTS, {"token": token}).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_token_streams_count_under_the_user_cap_on_the_mount(alice, broker, settings):
    settings.INBOX = {**settings.INBOX, "SSE_HEARTBEAT": 30, "SSE_MAX_STREAMS_PER_USER": 2}
    token = tokens.issue(alice)
    owner = grant_of(token).owner

    async def scenario():
        logs, stop, tasks = await open_streams(mount(), [token_scope(token)] * 3)
        await asyncio.wait_for(tasks[2], 10)
        books = registry.open_streams(owner)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        return logs, books

    logs, books = asyncio.run(scenario())
    assert [log[0]["status"] for log in logs] == [200, 200, 429] and books == (0, 2)
    assert b"Too many open notification streams" in bodies(logs[2])
    assert registry.open_streams(owner) == (0, 0)


# -- the docs' client, against a real server ------------------------------------------------------


def docs_client() -> dict:
    """The "native client" example of docs/live.md, run as written."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    [block] = [block for block in blocks if block.startswith("# A native client")]
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)
    return namespace


@contextlib.contextmanager
def real_server(app) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread; stopped at the end."""
    import uvicorn

    from tests.services import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.mark.django_db(transaction=True)
def test_the_docs_client_reads_a_token_stream_from_a_real_server(alice, bob, broker, fast_streams):
    read_stream = docs_client()["read_stream"]
    notifier.send("waiting", alice)
    seen = []
    with real_server(mount()) as url:
        stream = read_stream(f"{url}{EVENTS}", tokens.issue(alice), timeout=10)
        try:
            for event, data in stream:
                seen.append((event, data))
                if len(seen) == 1:
                    notifier.send("for bob", bob)
                    notifier.send("hello from the server", alice)
                if event == "notification":
                    break
        finally:
            stream.close()  # closes the connection: the server ends the stream
    assert [event for event, _ in seen] == ["counts", "counts", "notification"]
    assert seen[0][1]["unread"] == 1 and seen[1][1]["unread"] == 2
    assert [item["message"] for item in seen[2][1]] == ["hello from the server"]
    with real_server(mount()) as url, pytest.raises(Exception) as refused:
        list(read_stream(f"{url}{EVENTS}", "forged", timeout=10))
    assert getattr(refused.value, "code", None) == 401
