from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client

from inbox import events
from inbox.models import Notification


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Vendor-only tests (markers ``postgres``, ``mariadb``) run in their own pass and are deselected
    (not skipped) in every other pass."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    running = {"postgres": "postgresql" in engine, "mariadb": engine.endswith("mysql")}
    unwanted = {marker for marker, on in running.items() if not on}
    selected, deselected = [], []
    for item in items:
        (deselected if any(item.get_closest_marker(name) for name in unwanted) else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", password="pw")


@pytest.fixture
def bob(db: None) -> User:
    return User.objects.create_user("bob", password="pw")


@pytest.fixture
def carol(db: None) -> User:
    return User.objects.create_user("carol", password="pw")


@pytest.fixture
def alice_client(alice: User) -> Client:
    """A test client of its own, signed in as alice (beside pytest-django's ``client``)."""
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def warm_content_types(db: None) -> None:
    """Content types are cached per process after first use; warm them so query counts are exact."""
    for model in (User, Notification):
        ContentType.objects.get_for_model(model)


class Priority(enum.IntEnum):
    URGENT = 10
    PINNED = 11


@pytest.fixture
def priority_flags() -> Iterator[type[Priority]]:
    Notification.flags_registry.add(Priority)
    yield Priority
    Notification.flags_registry.remove(Priority)


@pytest.fixture
def broker() -> Iterator[events.Broker]:
    events.reset_broker()
    yield events.get_broker()
    events.reset_broker()


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server for the tests that need one; a missing binary fails the run loudly."""
    from tests.services import RedisServer, ServiceError

    try:
        server = RedisServer().start()
    except ServiceError as error:
        pytest.fail(f"Cannot start redis-server for the tests: {error} (make test installs it).")
    yield server
    server.stop()


@pytest.fixture
def redis_broker(redis_server, settings):
    """The Redis broker configured as the site's broker, with a prefix of its own per test."""
    import uuid

    settings.INBOX = {
        "BROKER": "inbox.events.redis.RedisBroker",
        "BROKER_OPTIONS": {"url": redis_server.url, "prefix": f"test-{uuid.uuid4().hex[:8]}:"},
    }
    events.reset_broker()
    yield events.get_broker()
    events.reset_broker()


@pytest.fixture
def fast_streams(settings):
    """Short heartbeats and WSGI stream lifetimes, so stream tests finish quickly."""
    settings.INBOX = {**settings.INBOX, "SSE_HEARTBEAT": 0.2, "SSE_WSGI_SECONDS": 1, "SSE_MIN_INTERVAL": 0}


@pytest.fixture
def session_check_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Each call of ``inbox.sse.sessions.signed_in_all`` (the owners it checked), still checking for real."""
    from inbox.sse import sessions

    calls: list[list[Any]] = []
    original = sessions.signed_in_all

    def counting(owners: Any) -> Any:
        owners = list(owners)
        calls.append(owners)
        return original(owners)

    monkeypatch.setattr(sessions, "signed_in_all", counting)
    return calls
