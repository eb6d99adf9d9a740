"""Issue 8, defect 5: the ASGI mount and its streams recover after PostgreSQL drops their connections."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from django.core.asgi import get_asgi_application
from django.db import connection, connections

from inbox.asgi import with_inbox_events
from inbox.services import notifier
from tests.test_sse import bodies, close_stream_connections, collect, scope_for  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def own_backend_pid() -> int:
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def terminate_other_backends(ours: int) -> int:
    """What a restart or failover does to every connection but the test's own: from outside."""
    settings = connection.settings_dict
    with psycopg.connect(host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"],
                         dbname=settings["NAME"], password=settings["PASSWORD"] or None, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
            [ours],
        ).fetchall()
    return len(rows)


def open_and_read_badge(client, app) -> list[dict]:
    return asyncio.run(collect(app, scope_for(client), until=lambda sent: b"event: badge" in bodies(sent)))


@pytest.mark.parametrize("persistent", [False, True], ids=["CONN_MAX_AGE=0", "persistent+health-checks"])
def test_the_mount_opens_streams_after_postgres_dropped_its_connections(client, alice, broker, fast_streams,
                                                                         monkeypatch, persistent):
    if persistent:  # as production sites run; the health check is what lets the very next stream work
        monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
        monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    notifier.send("before", alice)
    client.force_login(alice)
    ours = own_backend_pid()
    app = with_inbox_events(get_asgi_application())
    assert open_and_read_badge(client, app)[0]["status"] == 200
    if persistent:
        assert terminate_other_backends(ours) >= 1  # the mount's thread kept its connection: it is cut
    else:
        terminate_other_backends(ours)
    for _ in range(2):  # every new stream works, not just the second one
        messages = open_and_read_badge(client, app)
        assert messages[0]["status"] == 200 and b"1 unread notification" in bodies(messages)


def test_an_open_stream_keeps_delivering_after_postgres_dropped_its_connection(client, alice, broker, fast_streams,
                                                                              monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    client.force_login(alice)
    ours = own_backend_pid()
    app = with_inbox_events(get_asgi_application())

    def drop_then_send():
        terminate_other_backends(ours)
        notifier.send("after the failover", alice)
        connections.close_all()  # this helper thread's own connection, so the test database can go

    messages = asyncio.run(collect(app, scope_for(client), publish=drop_then_send,
                                   until=lambda sent: b"event: toast" in bodies(sent)))
    body = bodies(messages)
    assert b"after the failover" in body and b"1 unread notification" in body
