"""Live updates in real Chromium through the PostgreSQL broker: two uvicorn processes on one
throwaway PostgreSQL server and nothing else (no Redis), a send from a third process, a restart
of the database server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import BrowserContext, expect

from e2e.conftest import LIVE_TIMEOUT, Site, alice_on, site_env, wait_for_leader
from e2e.test_inbox import badge_count, expect_badge, mark_page, not_reloaded, rows
from tests import services


class Database:
    """The throwaway server tests.services started, and how to restart it in place."""

    def __init__(self, url: str) -> None:
        self.url = url

    def restart(self) -> None:
        """A real restart (fast shutdown: every client is cut off), on the same port and data."""
        with psycopg.connect(self.url, autocommit=True) as admin:
            [(data,)] = admin.execute("SHOW data_directory").fetchall()
        pg_ctl = services._find_binary("pg_ctl", ["/usr/lib/postgresql/*/bin/pg_ctl"])
        prefix, _, _ = services._unprivileged()
        log = os.path.join(os.path.dirname(data), "server.log")
        subprocess.run([*prefix, pg_ctl, "-D", data, "-l", log, "-m", "fast", "-w", "-t", "60", "restart"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90)


    def wait_for_listeners(self, count: int) -> None:
        deadline = time.monotonic() + LIVE_TIMEOUT / 1000
        while time.monotonic() < deadline:
            with psycopg.connect(self.url, autocommit=True) as admin:
                [(listening,)] = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'inbox-events-listen' "
                    "AND query LIKE 'LISTEN %'").fetchall()
            if listening >= count:
                return
            time.sleep(0.1)
        pytest.fail(f"fewer than {count} broker listeners reconnected after the restart")


class LiveSites:
    def __init__(self, a: Site, b: Site, database: Database) -> None:
        self.a, self.b, self.database = a, b, database


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSites]:
    with services.postgres() as url:
        workdir = tempfile.mkdtemp(prefix="inbox-live-pg-")
        env = site_env(workdir, DATABASE_URL=url)
        env["DJANGO_SETTINGS_MODULE"] = "e2e.live_postgres_settings"  # the PostgreSQL broker
        port_a, port_b = services.free_port(), services.free_port()
        a = Site(f"http://127.0.0.1:{port_a}", env, port_a)
        b = Site(f"http://127.0.0.1:{port_b}", env, port_b)
        try:
            assert "PostgresBroker" in a.python("from inbox import events; print(type(events.get_broker()).__name__)")
            a.manage("migrate", "--noinput", "-v0")
            a.reset()
            a.start()
            b.start()
            yield LiveSites(a, b, Database(url))
        finally:
            a.stop()
            b.stop()
            shutil.rmtree(workdir, ignore_errors=True)


def test_a_send_from_another_process_pops_up_live(live_context: BrowserContext, live: LiveSites):
    page = alice_on(live_context, live.a, "/inbox/")
    before = badge_count(page)
    mark_page(page)
    sender = live_context.new_page()  # the send form served by process B
    sender.goto(f"{live.b.url}/")
    sender.select_option("#id_recipient", label="alice")
    sender.fill("#id_message", "Hello <b>alice</b> from B")
    sender.click("form[action='/send/'] button[type=submit]")
    expect_badge(page, before + 1)
    # The toast's text did not cross NOTIFY: A's stream read it from the database by uid.
    expect(page.locator("#inbox-toasts")).to_contain_text("Hello <b>alice</b> from B")
    expect(page.locator(".inbox-table")).to_contain_text("Hello <b>alice</b> from B")
    live.a.send("alice", "From the command line")  # a third process
    expect_badge(page, before + 2)
    expect(page.locator("#inbox-toasts")).to_contain_text("From the command line")
    assert not_reloaded(page)


def test_mark_read_on_one_server_updates_a_tab_on_the_other(live_context: BrowserContext, live: LiveSites):
    first = alice_on(live_context, live.a, "/inbox/?status=unread")
    # Another origin (port), so another stream, held by process B; cookies ignore the port.
    second = live_context.new_page()
    second.goto(f"{live.b.url}/")
    wait_for_leader([second])
    before = badge_count(second)
    rows(first).nth(0).locator("input[name=uid]").check()
    first.click("[data-inbox-action=read]")
    expect_badge(first, before - 1)
    expect_badge(second, before - 1)


def test_the_page_recovers_after_the_database_server_restarts(live_context: BrowserContext, live: LiveSites):
    page = alice_on(live_context, live.a, "/inbox/")
    before = badge_count(page)
    mark_page(page)
    live.database.restart()
    live.a.send("alice", "Sent right after the restart")
    # Whether the listener was back in time for the event or resynced the stream after it, the badge is right.
    expect_badge(page, before + 1)
    live.database.wait_for_listeners(2)  # both servers LISTEN again: now events arrive as they are sent
    live.b.send("alice", "Sent once the listener is back")
    expect_badge(page, before + 2)
    expect(page.locator("#inbox-toasts")).to_contain_text("Sent once the listener is back")
    assert not_reloaded(page)
