"""Live updates in real Chromium: two uvicorn processes sharing Redis, many tabs, a restart."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import Site, _login, alice_on, site_env, wait_for_leader
from e2e.test_inbox import badge_count, expect_badge, mark_page, not_reloaded, rows
from tests.services import RedisServer, ServiceError, free_port


class LiveSites:
    def __init__(self, a: Site, b: Site, redis: RedisServer) -> None:
        self.a, self.b, self.redis = a, b, redis


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSites]:
    try:
        redis = RedisServer().start()
    except ServiceError as error:
        pytest.fail(f"Cannot start redis-server: {error} (make test installs it).")
    workdir = tempfile.mkdtemp(prefix="inbox-live-")
    env = site_env(workdir, INBOX_REDIS_URL=redis.url)
    port_a, port_b = free_port(), free_port()
    a = Site(f"http://127.0.0.1:{port_a}", env, port_a)
    b = Site(f"http://127.0.0.1:{port_b}", env, port_b)
    try:
        a.manage("migrate", "--noinput", "-v0")
        a.reset()
        a.start()
        b.start()
        yield LiveSites(a, b, redis)
    finally:
        a.stop()
        b.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def open_tab(context: BrowserContext, site: Site, path: str = "/inbox/") -> Page:
    page = context.new_page()
    page.goto(f"{site.url}{path}")
    return page


def test_a_send_from_another_process_pops_up_live(live_context: BrowserContext, live: LiveSites):
    page = alice_on(live_context, live.a, "/inbox/")
    before = badge_count(page)
    mark_page(page)
    # bob sends from the form served by process B
    sender = live_context.new_page()
    sender.goto(f"{live.b.url}/")
    sender.select_option("#id_recipient", label="alice")
    sender.fill("#id_message", "Hello <b>alice</b> from B")
    sender.click("form[action='/send/'] button[type=submit]")
    expect_badge(page, before + 1)
    expect(page.locator("#inbox-toasts")).to_contain_text("Hello <b>alice</b> from B")
    expect(page.locator(".inbox-table")).to_contain_text("Hello <b>alice</b> from B")  # the table refreshed
    assert not_reloaded(page)
    # and from a management command (a third process)
    live.a.send("alice", "From the command line")
    expect_badge(page, before + 2)
    expect(page.locator("#inbox-toasts")).to_contain_text("From the command line")


def test_mark_read_in_one_tab_updates_the_other(live_context: BrowserContext, live: LiveSites):
    first = live_context.new_page()
    _login(first, live.a, "alice")
    first.goto(f"{live.a.url}/inbox/?status=unread")
    second = open_tab(live_context, live.a, "/")
    wait_for_leader([first, second])
    before = badge_count(second)
    rows(first).nth(0).locator("input[name=uid]").check()
    first.click("[data-inbox-action=read]")
    expect_badge(first, before - 1)
    expect_badge(second, before - 1)


def test_eight_tabs_share_one_stream_and_all_stay_live(live_context: BrowserContext, live: LiveSites):
    login = live_context.new_page()
    _login(login, live.a, "alice")
    tabs = [login] + [open_tab(live_context, live.a) for _ in range(7)]
    wait_for_leader(tabs)
    time.sleep(0.5)
    roles = [tab.evaluate("document.documentElement.dataset.inboxLive") for tab in tabs]
    assert roles.count("leader") == 1, roles
    before = badge_count(tabs[-1])
    live.a.send("alice", "Eight tabs")
    for tab in tabs:
        expect_badge(tab, before + 1)
    # The leader closes: another tab takes over the stream.
    tabs[roles.index("leader")].close()
    rest = [tab for i, tab in enumerate(tabs) if i != roles.index("leader")]
    wait_for_leader(rest)
    live.a.send("alice", "After the leader left")
    for tab in rest:
        expect_badge(tab, before + 2)


def test_the_page_recovers_after_a_server_restart(live_context: BrowserContext, live: LiveSites):
    page = alice_on(live_context, live.a, "/inbox/")
    before = badge_count(page)
    mark_page(page)
    live.a.stop()
    live.a.send("alice", "Sent while the server was down")
    live.a.start()
    # On reconnecting the stream sends the current badge first: nothing is missed.
    expect_badge(page, before + 1)
    live.a.send("alice", "Sent after the restart")
    expect_badge(page, before + 2)
    assert not_reloaded(page)


def test_a_burst_of_2000_ends_on_the_database_count(live_context: BrowserContext, live: LiveSites):
    page = alice_on(live_context, live.a, "/")
    page.evaluate(
        "document.addEventListener('htmx:sseBeforeMessage', e => { if (e.detail.type === 'badge') "
        "window.__inboxRenders = (window.__inboxRenders || 0) + 1; })"
    )
    live.a.python(
        "from django.contrib.auth.models import User; from inbox.services import notifier; "
        "alice = User.objects.get(username='alice'); "
        "[notifier.send(f'burst {i}', alice) for i in range(2000)]"
    )
    expected = live.a.unread("alice")
    expect(page.locator("#inbox-badge")).to_have_attribute("aria-label", f"{expected} unread notifications",
                                                           timeout=60_000)
    assert page.locator("#inbox-toasts [data-inbox-toast]").count() <= 5  # a burst does not bury the page
    assert page.evaluate("window.__inboxRenders || 0") <= 60  # and the server coalesced it


def test_scheduled_notification_pops_up_when_published(live_context: BrowserContext, live: LiveSites):
    page = alice_on(live_context, live.a, "/")
    before = badge_count(page)
    live.a.python(
        "from datetime import timedelta; from django.utils import timezone; "
        "from django.contrib.auth.models import User; from inbox.services import notifier; "
        "notifier.send('Your reminder is due', User.objects.get(username='alice'), "
        "send_at=timezone.now() + timedelta(seconds=1))"
    )
    time.sleep(1.5)
    expect_badge(page, before)  # scheduled: not counted, not announced yet
    live.b.manage("inbox_publish_due")
    expect_badge(page, before + 1)
    expect(page.locator("#inbox-toasts")).to_contain_text("Your reminder is due")
