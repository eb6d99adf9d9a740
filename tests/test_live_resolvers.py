"""Issue 8, defect 6: a recipients resolver may be ``def`` or ``async def``, in pages and in the mount;
a sync one may query the database."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth.models import User
from django.core.asgi import get_asgi_application

from inbox import recipients
from inbox.asgi import with_inbox_events
from inbox.services import notifier
from tests.test_sse import bodies, close_stream_connections, collect, scope_for  # noqa: F401


def sync_db_resolver(request):
    """Reads the database synchronously, as a team or organisation lookup would."""
    if not request.user.is_authenticated:
        return []
    return list(User.objects.filter(pk=request.user.pk))


async def async_resolver(request):
    user = await request.auser()
    if not user.is_authenticated:
        return []
    return [found async for found in User.objects.filter(pk=user.pk)]


RESOLVERS = {
    "sync-db": "tests.test_live_resolvers.sync_db_resolver",
    "async": "tests.test_live_resolvers.async_resolver",
}


@pytest.fixture(params=list(RESOLVERS))
def resolver(request, settings):
    settings.INBOX = {**settings.INBOX, "RECIPIENTS_RESOLVER": RESOLVERS[request.param]}
    return request.param


@pytest.mark.django_db
def test_pages_use_a_sync_or_async_resolver(client, alice, bob, resolver):
    notifier.send("for alice", alice)
    notifier.send("for bob", bob)
    client.force_login(alice)
    response = client.get("/inbox/")
    assert response.status_code == 200
    assert b"for alice" in response.content and b"for bob" not in response.content


@pytest.mark.django_db
def test_for_request_resolves_once_with_either_kind(rf, alice, resolver, django_assert_num_queries):
    request = rf.get("/")
    request.user = alice

    async def auser():
        return alice

    request.auser = auser
    with django_assert_num_queries(1):  # the resolver's own query, once per request
        assert recipients.for_request(request) == [alice]
        assert recipients.for_request(request) == [alice]


@pytest.mark.django_db(transaction=True)
def test_the_mount_uses_a_sync_or_async_resolver(client, alice, broker, fast_streams, resolver):
    notifier.send("first", alice)
    client.force_login(alice)

    def publish():
        notifier.send("second", alice)

    messages = asyncio.run(collect(
        with_inbox_events(get_asgi_application()), scope_for(client), publish=publish,
        until=lambda sent: b"event: toast" in bodies(sent),
    ))
    assert messages[0]["status"] == 200
    body = bodies(messages)
    assert b"1 unread notification" in body and b"2 unread notifications" in body and b"second" in body


@pytest.mark.django_db(transaction=True)
def test_the_mount_refuses_anonymous_with_either_kind(client, resolver):
    messages = asyncio.run(collect(with_inbox_events(get_asgi_application()), scope_for(client),
                                   until=lambda sent: len(sent) >= 2))
    assert messages[0]["status"] == 401
