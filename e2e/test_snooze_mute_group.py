"""Issue 11 in real Chromium: snooze a row and find it in the Snoozed tab, mute a thread from its
detail page, a grouped row ("… and N others") and its detail list; axe on the new states and
screenshots at 1280 and 390 px, light and dark, into e2e/artifacts/ for review."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import DESKTOP, PHONE, MakePage, Site
from e2e.states import settle
from e2e.test_ui_axe import problems

ROW = ".inbox-table [data-inbox-row]"

#: Five people comment on Apollo for alice, folded into one row by group_key.
_GROUP = """
from django.contrib.auth.models import User
from demo.models import Project
from inbox.models import Notification
from inbox.services import manager, notifier
alice = User.objects.get(username="alice")
project = Project.objects.get(name="Apollo")
manager.delete(Notification.objects.filter(group_key="apollo-review"))
for name in ("dana", "erin", "frank", "gina", "bob"):
    actor, _ = User.objects.get_or_create(username=name)
    notifier.send("{actor} commented on {target}", alice, actor=actor, target=project,
                  category="comments", group_key="apollo-review", url="/")
print(Notification.objects.get(group_key="apollo-review", recipient_id=str(alice.pk)).uid)
"""


def grouped_uid(site: Site) -> str:
    return site.python(_GROUP).splitlines()[-1]


def snooze_one(site: Site) -> str:
    return site.python(
        "import datetime; from django.contrib.auth.models import User; from django.utils import timezone; "
        "from inbox.models import Notification; from inbox.services import manager; "
        "qs = Notification.objects.recipients([User.objects.get(username='alice')]).sent().active(); "
        "n = qs.first(); manager.snooze(qs.filter(pk=n.pk), timezone.now() + datetime.timedelta(days=1)); print(n.uid)"
    )


def open_snoozed(page: Page, site: Site) -> None:
    snooze_one(site)
    page.goto(f"{site.url}/inbox/?status=snoozed")


def open_grouped_detail(page: Page, site: Site) -> None:
    uid = grouped_uid(site)
    page.goto(f"{site.url}/inbox/{uid}/")


def test_snooze_a_row_for_an_hour_then_find_it_in_the_snoozed_tab(make_page: MakePage, site: Site):
    page = make_page()
    page.goto(f"{site.url}/inbox/")
    row = page.locator(ROW).first
    uid = (row.get_attribute("id") or "").removeprefix("inbox-row-")
    row.hover()
    row.locator(".inbox-menu > summary").click()
    row.locator("[data-inbox-snooze='1h']").click()
    expect(page.locator(f"#inbox-row-{uid}")).to_have_count(0)
    expect(page.locator("#inbox-toasts")).to_contain_text("Snoozed until ")
    page.locator(".inbox-tab", has_text="Snoozed").click()
    expect(page).to_have_url(re.compile(r"status=snoozed"))
    snoozed = page.locator(f"#inbox-row-{uid}")
    expect(snoozed).to_be_visible()
    expect(snoozed.locator(".inbox-row__time--until")).to_contain_text("Until")
    # Unsnooze brings it back.
    snoozed.hover()
    snoozed.locator("[data-inbox-row-action=unsnooze]").click()
    expect(page.locator(f"#inbox-row-{uid}")).to_have_count(0)
    page.goto(f"{site.url}/inbox/")
    expect(page.locator(f"#inbox-row-{uid}")).to_be_visible()


def test_snooze_without_javascript(make_page: MakePage, site: Site):
    page = make_page(js=False)
    page.goto(f"{site.url}/inbox/")
    row = page.locator(ROW).first
    uid = (row.get_attribute("id") or "").removeprefix("inbox-row-")
    row.hover()
    row.locator(".inbox-menu > summary").click()
    row.locator("[data-inbox-snooze='tomorrow']").click()
    page.wait_for_url(f"{site.url}/inbox/")
    expect(page.locator(f"#inbox-row-{uid}")).to_have_count(0)
    expect(page.locator("#inbox-toasts")).to_contain_text("Snoozed until tomorrow 9:00")


def test_mute_a_thread_from_the_detail_page(make_page: MakePage, site: Site):
    page = make_page()
    uid = grouped_uid(site)
    page.goto(f"{site.url}/inbox/{uid}/")
    page.get_by_role("button", name="Mute thread").click()
    expect(page.locator("#inbox-toasts")).to_contain_text("Thread muted.")
    expect(page.get_by_role("button", name="Unmute thread")).to_be_visible()
    expect(page.locator(".inbox-detail__note")).to_have_text("You won't be notified about this thread.")
    page.reload()
    expect(page.get_by_role("button", name="Unmute thread")).to_be_visible()
    page.get_by_role("button", name="Unmute thread").click()
    expect(page.get_by_role("button", name="Mute thread")).to_be_visible()


def test_a_grouped_row_and_its_detail(make_page: MakePage, site: Site):
    page = make_page()
    uid = grouped_uid(site)
    page.goto(f"{site.url}/inbox/")
    row = page.locator(f"#inbox-row-{uid}")
    expect(row.locator(".inbox-open")).to_contain_text("bob and 4 others commented on Apollo")
    expect(row.locator(".inbox-count-pill")).to_contain_text("5")
    row.locator(".inbox-open").click()
    page.wait_for_url(re.compile(rf"/inbox/{uid}/"))
    items = page.locator(".inbox-group-item")
    expect(items).to_have_count(5)
    expect(items.nth(0)).to_contain_text("bob commented on Apollo")
    expect(items.nth(4)).to_contain_text("dana commented on Apollo")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_axe_and_screenshots(make_page: MakePage, site: Site, artifacts: Path, viewport: dict[str, int], scheme: str):
    page = make_page(viewport, scheme)
    size = "desktop" if viewport == DESKTOP else "mobile"
    found = {}
    open_snoozed(page, site)
    settle(page)
    page.screenshot(path=str(artifacts / f"snoozed-{size}-{scheme}.png"), full_page=True)
    if issues := problems(page):
        found["snoozed"] = issues
    open_grouped_detail(page, site)
    settle(page)
    page.screenshot(path=str(artifacts / f"grouped-detail-{size}-{scheme}.png"), full_page=True)
    if issues := problems(page):
        found["grouped detail"] = issues
    # The detail page's snooze menu open, and the list's grouped row with a row menu open.
    page.locator(".inbox-detail__actions .inbox-menu > summary").click()
    settle(page)
    page.screenshot(path=str(artifacts / f"detail-snooze-menu-{size}-{scheme}.png"), full_page=True)
    if issues := problems(page):
        found["detail snooze menu"] = issues
    page.goto(f"{site.url}/inbox/")
    settle(page)
    page.screenshot(path=str(artifacts / f"grouped-list-{size}-{scheme}.png"), full_page=True)
    if issues := problems(page):
        found["grouped list"] = issues
    assert found == {}
