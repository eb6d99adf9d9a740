"""inbox.contrib.messages in Chromium: a view adds a persistent warning with Django's messages API;
another tab gets it live (toast, inbox row, message list); closing it reads it in both tabs."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, BrowserContext, expect

from e2e.conftest import PASSWORD, Site, _login, wait_for_leader
from e2e.test_inbox import expect_badge, mark_page, not_reloaded

WARNING = "Your trial ends in 3 days"


def test_a_persistent_warning_pops_up_everywhere_and_closing_it_reads_it_everywhere(
    context: BrowserContext, site: Site
) -> None:
    site.reset()
    here = context.new_page()
    _login(here, site, "alice")
    there = context.new_page()
    there.goto(f"{site.url}/inbox/")
    wait_for_leader([here, there])
    unread = site.unread("alice")
    mark_page(there)

    with here.expect_navigation():
        here.get_by_role("button", name="Add a persistent warning").click()
    shown_here = here.locator(".inbox-message", has_text=WARNING)
    expect(shown_here).to_be_visible()
    expect(shown_here).to_have_class(re.compile(r"inbox-message--warning"))

    # The other tab, with no reload: a toast, the inbox row, the page's message list and the bell.
    expect(there.locator("#inbox-toasts")).to_contain_text(WARNING)
    expect(there.locator("#inbox-results")).to_contain_text(WARNING)
    shown_there = there.locator(".inbox-message", has_text=WARNING)
    expect(shown_there).to_be_visible()
    expect_badge(there, unread + 1)
    assert site.unread("alice") == unread + 1

    # It stays on every page until read: a reload of the first tab still shows it.
    here.reload()
    expect(shown_here).to_be_visible()
    mark_page(here)
    shown_here.get_by_role("button", name=re.compile("Mark read")).click()
    expect(shown_here).to_have_count(0)
    expect_badge(here, unread)
    expect(shown_there).to_have_count(0)
    expect_badge(there, unread)
    row = there.locator("[data-inbox-row]", has_text=WARNING)
    expect(row).not_to_have_class(re.compile(r"is-unread"))
    assert not_reloaded(here) and not_reloaded(there)
    assert site.unread("alice") == unread


def test_closing_a_message_without_javascript_stays_on_the_page(browser: Browser, site: Site) -> None:
    site.reset()
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{site.url}/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{site.url}/")
        unread = site.unread("alice")
        page.get_by_role("button", name="Add a persistent warning").click()
        page.wait_for_url(f"{site.url}/")
        page.goto(f"{site.url}/projects/1/")
        message = page.locator(".inbox-message", has_text=WARNING)
        expect(message).to_be_visible()
        message.get_by_role("button", name=re.compile("Mark read")).click()
        page.wait_for_url(f"{site.url}/projects/1/")
        expect(page.locator(".inbox-message", has_text=WARNING)).to_have_count(0)
        assert site.unread("alice") == unread
    finally:
        context.close()
