"""The inbox in real Chromium against the example site under uvicorn: with and without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import Site

NO_JS = pytest.mark.parametrize("context", [{"java_script_enabled": False}], indirect=True)


def badge_count(page: Page) -> int:
    label = page.locator("#inbox-badge").get_attribute("aria-label") or ""
    match = re.match(r"(\d+) unread", label)
    return int(match.group(1)) if match else 0


def expect_badge(page: Page, count: int) -> None:
    expected = "No unread notifications" if count == 0 else (
        f"{count} unread notification" + ("s" if count != 1 else "")
    )
    expect(page.locator("#inbox-badge")).to_have_attribute("aria-label", expected)


def mark_page(page: Page) -> None:
    """A marker that a full page load would wipe: proves an update happened without a reload."""
    page.evaluate("window.__inboxNoReload = true")


def not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__inboxNoReload === true")


def rows(page: Page):
    return page.locator(".inbox-table [data-inbox-row]")


def row_uid(page: Page, index: int = 0) -> str:
    return (rows(page).nth(index).get_attribute("id") or "").removeprefix("inbox-row-")


def test_badge_shows_the_unread_count(page: Page, site: Site):
    expect_badge(page, site.unread("alice"))
    assert badge_count(page) > 0


def tab(page: Page, name: str):
    return page.locator(".inbox-tabs a.inbox-tab", has_text=name)


def test_filter_unread_with_htmx_keeps_url_and_back_button(page: Page, site: Site):
    page.goto(f"{site.url}/inbox/")
    mark_page(page)
    tab(page, "Unread").click()
    page.wait_for_url(re.compile(r"/inbox/\?status=unread$"))
    expect(page.locator(".inbox-table .inbox-row:not(.is-unread)")).to_have_count(0)
    expect(tab(page, "Unread")).to_have_attribute("aria-current", "page")
    assert rows(page).count() > 0 and not_reloaded(page)
    page.go_back()
    page.wait_for_url(re.compile(r"/inbox/$"))
    expect(tab(page, "Inbox")).to_have_attribute("aria-current", "page")
    expect(page.locator(".inbox-table .inbox-row:not(.is-unread)").first).to_be_visible()


def test_bulk_mark_read_drops_the_badge_without_reload(page: Page, site: Site):
    page.goto(f"{site.url}/inbox/?status=unread")
    before = badge_count(page)
    mark_page(page)
    rows(page).nth(0).locator("input[name=uid]").check()
    rows(page).nth(1).locator("input[name=uid]").check()
    page.click("[data-inbox-action=read]")
    expect_badge(page, before - 2)
    expect(page.locator("#inbox-toasts")).to_contain_text("2 notifications marked read.")
    assert not_reloaded(page)
    assert site.unread("alice") == before - 2


def test_archive_then_find_it_under_archived(page: Page, site: Site):
    page.goto(f"{site.url}/inbox/")
    uid = row_uid(page)
    page.locator(f"#inbox-row-{uid} input[name=uid]").check()
    page.click("[data-inbox-action=archive]")
    expect(page.locator(f"#inbox-row-{uid}")).to_have_count(0)
    tab(page, "Archived").click()
    page.wait_for_url(re.compile(r"status=archived"))
    expect(page.locator(f"#inbox-row-{uid}")).to_have_count(1)


def test_delete_asks_first(page: Page, site: Site):
    page.goto(f"{site.url}/inbox/")
    uid = row_uid(page)
    page.locator(f"#inbox-row-{uid} input[name=uid]").check()
    page.click("[data-inbox-action=delete]")
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("1 notification will be deleted")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator("#inbox-toasts")).to_contain_text("1 notification deleted.")
    expect(page.locator(f"#inbox-row-{uid}")).to_have_count(0)
    assert site.python(f"from inbox.models import Notification; print(Notification.objects.filter(uid='{uid}').exists())") == "False"


def test_opening_a_notification_marks_it_read(page: Page, site: Site):
    page.goto(f"{site.url}/inbox/?status=unread")
    before = badge_count(page)
    uid = row_uid(page)
    page.locator(f"#inbox-row-{uid} .inbox-open").click()
    page.wait_for_url(re.compile(rf"/inbox/{uid}/"))
    expect(page.locator(".inbox-detail__facts")).to_contain_text("Read")
    expect_badge(page, before - 1)


@NO_JS
def test_the_same_flows_without_javascript(page: Page, site: Site):
    page.goto(f"{site.url}/inbox/")
    before = badge_count(page)
    # filter: the tabs are plain links
    tab(page, "Unread").click()
    page.wait_for_url(re.compile(r"status=unread"))
    expect(page.locator(".inbox-table .inbox-row:not(.is-unread)")).to_have_count(0)
    # mark read
    uid = row_uid(page)
    page.locator(f"#inbox-row-{uid} input[name=uid]").check()
    page.click("[data-inbox-action=read]")
    page.wait_for_url(re.compile(r"status=unread"))
    expect(page.locator("#inbox-toasts")).to_contain_text("1 notification marked read.")
    expect_badge(page, before - 1)
    # archive, then find it under archived
    page.goto(f"{site.url}/inbox/")
    uid = row_uid(page)
    page.locator(f"#inbox-row-{uid} input[name=uid]").check()
    page.click("[data-inbox-action=archive]")
    expect(page.locator(f"#inbox-row-{uid}")).to_have_count(0)
    tab(page, "Archived").click()
    expect(page.locator(f"#inbox-row-{uid}")).to_have_count(1)
    # delete, with a confirmation page
    page.goto(f"{site.url}/inbox/")
    uid = row_uid(page)
    page.locator(f"#inbox-row-{uid} input[name=uid]").check()
    page.click("[data-inbox-action=delete]")
    expect(page.get_by_role("alertdialog")).to_contain_text("1 notification will be deleted")
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#inbox-toasts")).to_contain_text("1 notification deleted.")
    expect(page.locator(f"#inbox-row-{uid}")).to_have_count(0)
    # open a notification: it becomes read
    page.goto(f"{site.url}/inbox/?status=unread")
    uid = row_uid(page)
    page.locator(f"#inbox-row-{uid} .inbox-open").click()
    page.wait_for_url(re.compile(rf"/inbox/{uid}/"))
    expect(page.locator(".inbox-detail__facts")).to_contain_text("Read")


def press_until(page: Page, key: str, condition: str, what: str, limit: int = 80) -> None:
    """Press ``key`` until the JavaScript ``condition`` holds: proves ``what`` is keyboard-reachable."""
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate(condition):
            return
    pytest.fail(f"{what} is not reachable with {key}")


def test_keyboard_only(page: Page, site: Site):
    page.goto(f"{site.url}/inbox/")
    before = badge_count(page)
    mark_page(page)
    # Filter: tab to the "Unread" tab and press Enter.
    press_until(page, "Tab", "document.activeElement.textContent.trim().startsWith('Unread')", "the Unread tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"status=unread"))
    # Select: tab on to the first row's checkbox and tick it with Space.
    press_until(page, "Tab", "document.activeElement.name === 'uid'", "a row checkbox")
    page.keyboard.press("Space")
    # Mark read: shift+tab back to the button and press Enter.
    press_until(page, "Shift+Tab", "document.activeElement.dataset.inboxAction === 'read'", "the mark-read button")
    page.keyboard.press("Enter")
    expect_badge(page, before - 1)
    # Shortcuts: j moves to a row, x selects it, shift+I marks it read.
    page.locator("#inbox-title").click()
    page.keyboard.press("j")
    expect(page.locator(".inbox-row.is-current")).to_have_count(1)
    page.keyboard.press("x")
    page.keyboard.press("Shift+I")
    expect_badge(page, before - 2)
    page.keyboard.press("?")
    expect(page.locator("#inbox-help")).to_be_visible()
    assert not_reloaded(page)


# Accessibility (axe, every impact) and screenshots at both widths and in both schemes:
# e2e/test_ui_axe.py and python -m e2e.screenshots.
