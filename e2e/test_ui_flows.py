"""Issue 9's flows in real Chromium, each with and without JavaScript, at 1280 and 390 px.

Every test here failed (or could not be written) against the 1.x page: the DEBUG 400 that
wiped the page, delete from the detail page stranded on /inbox/bulk/, star and archive that
left the detail page, "Mark as read" that stayed, toasts that never hid, the focus that jumped
to the first row, the 390 px layout that overflowed.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from e2e.conftest import DESKTOP, PHONE, MakePage, Site
from e2e.test_inbox import badge_count, expect_badge, mark_page, not_reloaded, row_uid, rows

BOTH = pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
SIZES = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])


def unread_uid(site: Site) -> str:
    return site.python(
        "from django.contrib.auth.models import User; from inbox.models import Notification; "
        "print(Notification.objects.recipients([User.objects.get(username='alice')]).sent().active().unread()"
        ".first().uid)"
    )


def flags(site: Site, uid: str) -> str:
    return site.python(
        "from inbox.models import Notification; n = Notification.objects.filter(uid=%r).first(); "
        "print('gone' if n is None else ''.join(k for k, v in (('r', n.is_read), ('s', n.is_starred), "
        "('a', n.is_archived)) if v))" % uid
    )


# -- Validation in place, never a wiped page (DEBUG = True in the e2e site) ----------------------


def test_a_bad_filter_shows_its_message_in_place(make_page: MakePage, site: Site):
    page = make_page()
    page.goto(f"{site.url}/inbox/")
    mark_page(page)
    page.locator(".inbox-advanced > summary").click()
    page.fill("#id_sent_after", "2020-01-02")
    with page.expect_response(lambda r: "/inbox/?" in r.url and r.status == 400):
        page.fill("#id_sent_before", "2020-01-01")
    expect(page.locator("#inbox-results [role=alert]")).to_contain_text("must be on or before")
    expect(page.locator("#inbox-title")).to_be_visible()  # the page is still there
    assert not_reloaded(page)
    # An invalid category (a hand-edited URL's, say) is shown the same way.
    page.evaluate("document.querySelector('#inbox-filters').insertAdjacentHTML('beforeend',"
                  " '<input type=hidden name=category value=\"not a slug!\">')")
    page.fill("#id_sent_before", "")
    with page.expect_response(lambda r: "/inbox/?" in r.url and r.status == 400):
        page.press("#id_q", "Enter")
    expect(page.locator("#inbox-results [role=alert]")).to_contain_text("Category")
    assert not_reloaded(page)


def test_bulk_buttons_wait_for_a_selection_and_a_forced_empty_post_is_a_toast(make_page: MakePage, site: Site):
    page = make_page()
    page.goto(f"{site.url}/inbox/")
    mark_page(page)
    read = page.locator("[data-inbox-action=read]")
    expect(read).to_be_disabled()
    expect(page.locator(".inbox-bulkbar__actions")).to_be_hidden()
    # Forced anyway (a stale page, a script): a 400 with its message as a toast, page intact.
    page.evaluate("document.querySelector('[data-inbox-action=read]').disabled = false;"
                  "document.querySelector('[data-inbox-action=read]').click()")
    expect(page.locator("#inbox-toasts")).to_contain_text("Select at least one notification.")
    expect(page.locator("#inbox-title")).to_be_visible()
    assert not_reloaded(page)


def test_the_bulk_bar_counts_and_offers_only_what_makes_sense(make_page: MakePage, site: Site):
    page = make_page()
    page.goto(f"{site.url}/inbox/?status=unread")
    for index in range(3):
        rows(page).nth(index).locator("input[name=uid]").check()
    expect(page.locator("[data-inbox-selection-label]")).to_have_text("3 selected")
    expect(page.locator("[data-inbox-action=read]")).to_be_visible()
    expect(page.locator("[data-inbox-action=unread]")).to_have_count(0)  # not in the Unread tab at all
    page.goto(f"{site.url}/inbox/?status=read")
    rows(page).nth(0).locator("input[name=uid]").check()
    expect(page.locator("[data-inbox-action=unread]")).to_be_visible()
    expect(page.locator("[data-inbox-action=read]")).to_have_count(0)
    # "Select all" on the page, then all matching.
    page.goto(f"{site.url}/inbox/")
    page.locator("[data-inbox-select-page]").check()
    expect(page.locator("[data-inbox-select-matching]")).to_be_visible()
    page.locator("[data-inbox-select-matching]").click()
    expect(page.locator("[data-inbox-scope]")).to_have_value("matching")
    expect(page.locator("[data-inbox-selection-label]")).to_contain_text("matching")


# -- Row actions: plain forms, hover and focus -------------------------------------------------


@BOTH
def test_row_actions_work_with_and_without_javascript(make_page: MakePage, site: Site, js: bool):
    uid = unread_uid(site)
    page = make_page(js=js)
    page.goto(f"{site.url}/inbox/?per_page=50")
    row = page.locator(f"#inbox-row-{uid}")
    row.hover()
    row.locator("[data-inbox-row-action=star]").click()
    expect(page.locator(f"#inbox-row-{uid}")).to_have_class(re.compile("is-starred"))
    page.locator(f"#inbox-row-{uid}").hover()
    page.locator(f"#inbox-row-{uid} [data-inbox-row-action=read]").click()
    expect(page.locator(f"#inbox-row-{uid}")).to_have_class(re.compile(r"^(?!.*is-unread)"))
    page.locator(f"#inbox-row-{uid}").hover()
    page.locator(f"#inbox-row-{uid} [data-inbox-row-action=archive]").click()
    expect(page.locator(f"#inbox-row-{uid}")).to_have_count(0)
    expect(page.locator("#inbox-toasts")).to_contain_text("1 notification archived.")
    assert flags(site, uid) == "rsa"
    assert "per_page=50" in page.url  # the list state survives


def test_row_actions_show_on_keyboard_focus(make_page: MakePage, site: Site):
    page = make_page()
    page.goto(f"{site.url}/inbox/")
    first = rows(page).nth(0)
    first.locator("input[name=uid]").focus()
    assert first.locator(".inbox-row__actions").evaluate("e => getComputedStyle(e).opacity") == "1"


# -- The detail page ---------------------------------------------------------------------------


@BOTH
def test_star_and_archive_on_the_detail_page_stay_there(make_page: MakePage, site: Site, js: bool):
    uid = unread_uid(site)
    page = make_page(js=js)
    page.goto(f"{site.url}/inbox/{uid}/?status=unread")
    if js:
        mark_page(page)
    page.get_by_role("button", name="Star", exact=True).click()
    expect(page.get_by_role("button", name="Star", exact=True)).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Archive").click()
    expect(page.get_by_role("button", name="Move to inbox")).to_be_visible()
    expect(page.locator("#inbox-toasts")).to_contain_text("1 notification archived.")
    assert re.search(rf"/inbox/{uid}/\?status=unread$", page.url)
    if js:
        assert not_reloaded(page)
    assert "s" in flags(site, uid) and "a" in flags(site, uid)


@BOTH
def test_mark_as_read_goes_once_the_page_is_read(make_page: MakePage, site: Site, js: bool):
    uid = unread_uid(site)
    page = make_page(js=js)
    before = badge_count(page)
    page.goto(f"{site.url}/inbox/{uid}/")
    mark = page.get_by_role("button", name="Mark as read")
    if js:  # the page marks itself read on load
        expect(mark).to_have_count(0)
    else:
        mark.click()
        expect(mark).to_have_count(0)
    expect_badge(page, before - 1)
    expect(page.get_by_role("button", name="Mark unread")).to_be_visible()
    # ...and "Mark unread" stays unread (the load-time read does not run again).
    page.get_by_role("button", name="Mark unread").click()
    expect(page.get_by_role("button", name="Mark as read")).to_be_visible()
    page.wait_for_timeout(500)
    assert "r" not in flags(site, uid)


@BOTH
def test_delete_from_the_detail_page_lands_on_the_list(make_page: MakePage, site: Site, js: bool):
    uid = unread_uid(site)
    page = make_page(js=js)
    page.goto(f"{site.url}/inbox/{uid}/?status=unread")
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("1 notification will be deleted")
    dialog.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/inbox/\?status=unread$"))
    expect(page.locator("#inbox-toasts")).to_contain_text("1 notification deleted.")
    assert flags(site, uid) == "gone"
    # A reload is a GET of the list: nothing is posted again, no 405, no dialog.
    response = page.reload()
    assert response is not None and response.status == 200 and response.request.method == "GET"
    expect(page.get_by_role("alertdialog")).to_have_count(0)


def test_cancel_on_the_detail_delete_keeps_the_notification(make_page: MakePage, site: Site):
    uid = unread_uid(site)
    page = make_page()
    page.goto(f"{site.url}/inbox/{uid}/")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("alertdialog").get_by_role("link", name="Cancel").click()
    page.wait_for_url(re.compile(rf"/inbox/{uid}/"))
    expect(page.get_by_role("button", name="Delete")).to_be_visible()
    assert flags(site, uid) != "gone"


# -- Toasts: one behaviour ---------------------------------------------------------------------


def test_action_toasts_hide_close_and_are_capped(make_page: MakePage, site: Site):
    page = make_page()
    page.goto(f"{site.url}/inbox/")
    rows(page).nth(0).hover()
    rows(page).nth(0).locator("[data-inbox-row-action=star]").click()
    toast = page.locator("#inbox-toasts [data-inbox-toast]").first
    expect(toast).to_contain_text("1 notification starred.")
    toast.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#inbox-toasts [data-inbox-toast]")).to_have_count(0)
    # Another one hides by itself (6 s).
    rows(page).nth(1).hover()
    rows(page).nth(1).locator("[data-inbox-row-action=star]").click()
    expect(page.locator("#inbox-toasts [data-inbox-toast]")).to_have_count(1)
    page.mouse.move(5, 5)
    expect(page.locator("#inbox-toasts [data-inbox-toast]")).to_have_count(0, timeout=9_000)
    # A burst keeps the newest five.
    page.evaluate("for (let i = 0; i < 8; i++) window.inboxShowToast('burst ' + i, 'info')")
    expect(page.locator("#inbox-toasts [data-inbox-toast]")).to_have_count(5)
    expect(page.locator("#inbox-toasts")).to_contain_text("burst 7")


# -- Keyboard and focus ----------------------------------------------------------------------------


def test_archive_with_e_moves_focus_to_the_next_row(make_page: MakePage, site: Site):
    page = make_page()
    page.goto(f"{site.url}/inbox/")
    page.locator("#inbox-title").click()
    page.keyboard.press("j")
    page.keyboard.press("j")
    archived, following = row_uid(page, 1), row_uid(page, 2)
    page.keyboard.press("e")
    expect(page.locator(f"#inbox-row-{archived}")).to_have_count(0)
    expect(page.locator(f"#inbox-row-{following}")).to_have_class(re.compile("is-current"))
    assert page.evaluate("document.activeElement.id") == f"inbox-row-{following}"


def test_a_live_refresh_does_not_touch_focus(make_page: MakePage, site: Site):
    page = make_page()
    page.goto(f"{site.url}/inbox/")
    page.wait_for_function("document.documentElement.dataset.inboxLive === 'leader'")
    other = page.context.new_page()
    other.goto(f"{site.url}/")
    other.select_option("#id_recipient", label="alice")
    other.fill("#id_message", "A live one")
    with other.expect_navigation():
        other.click("form[action='/send/'] button[type=submit]")
    expect(page.locator(".inbox-table")).to_contain_text("A live one")
    page.wait_for_timeout(300)
    assert page.evaluate("document.activeElement === document.body")
    expect(page.locator(".inbox-row.is-current")).to_have_count(0)


# -- The bell and its preview ------------------------------------------------------------------------


@SIZES
def test_the_bell_opens_the_preview_and_escape_returns_focus(make_page: MakePage, site: Site, viewport):
    page = make_page(viewport)
    page.goto(f"{site.url}/inbox/")
    bell = page.locator(".inbox-preview .inbox-bell")
    expect(bell).to_have_attribute("aria-expanded", "false")
    bell.click()
    panel = page.locator("#inbox-preview-panel")
    expect(panel).to_be_visible()
    expect(bell).to_have_attribute("aria-expanded", "true")
    box = panel.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box  # not clipped
    expect(panel.get_by_role("link", name="See all notifications")).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(bell).to_have_attribute("aria-expanded", "false")
    assert page.evaluate("document.activeElement.classList.contains('inbox-bell')")
    # The count sits beside the bell, not over it.
    count, icon = bell.locator(".inbox-badge__count").bounding_box(), bell.locator(".inbox-badge__bell").bounding_box()
    assert count and icon and count["x"] >= icon["x"] + icon["width"] - 1


@BOTH
def test_mark_all_as_read_from_the_preview(make_page: MakePage, site: Site, js: bool):
    page = make_page(js=js)
    page.goto(f"{site.url}/inbox/")
    page.locator(".inbox-preview .inbox-bell").click()
    page.locator("#inbox-preview-panel").get_by_role("button", name="Mark all as read").click()
    expect_badge(page, 0)
    assert site.unread("alice") == 0


# -- 390 px ------------------------------------------------------------------------------------------


@BOTH
def test_the_phone_layout_fits(make_page: MakePage, site: Site, js: bool):
    page = make_page(PHONE, js=js)
    page.goto(f"{site.url}/inbox/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    first = rows(page).nth(0).bounding_box()
    assert first and first["y"] + first["height"] < PHONE["height"] * 0.6  # filters do not fill the first screen
    time_box = rows(page).nth(0).locator(".inbox-row__time").bounding_box()
    assert time_box and time_box["width"] < 72  # "3h", not half the row
    for index in range(min(5, rows(page).count())):
        box = rows(page).nth(index).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    # No hover menu over a row's text on a phone; the keyboard still reaches the row actions.
    rows(page).nth(0).hover()
    actions = rows(page).nth(0).locator(".inbox-row__actions")
    assert actions.evaluate("e => getComputedStyle(e).opacity") == "0"
    actions.locator("button").first.focus()
    assert actions.evaluate("e => getComputedStyle(e).opacity") == "1"
    # Every status tab is on screen, down to 320 px: none hides past the edge of a scroller.
    for width in (PHONE["width"], 320):
        page.set_viewport_size({"width": width, "height": PHONE["height"]})
        tabs = page.locator(".inbox-tab")
        assert tabs.count() == 6  # Inbox, Unread, Starred, Snoozed (its clock on a phone), Archived, All
        for index in range(6):
            box = tabs.nth(index).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, index, box)
    page.set_viewport_size(PHONE)
    page.goto(f"{site.url}/inbox/{unread_uid(site)}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_dark_mode_native_controls_follow(make_page: MakePage, site: Site):
    page = make_page(scheme="dark")
    page.goto(f"{site.url}/inbox/")
    assert "dark" in page.evaluate("getComputedStyle(document.documentElement).colorScheme")
    assert page.evaluate("getComputedStyle(document.querySelector('.inbox-list')).backgroundColor") == "rgb(13, 17, 23)"
