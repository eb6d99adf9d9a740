"""The preferences page and the unsubscribe pages in Chromium: saving with and without JavaScript,
the locked row, axe at 1280 and 390 px in light and dark, and screenshots for the lead."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import DESKTOP, PHONE, MakePage, Site
from e2e.states import settle
from e2e.test_ui_axe import problems

PREFS = "/inbox/preferences/"
COMMENTS = "#inbox-pref-comments-email"


def forget_choices(site: Site) -> None:
    """Alice's preferences back to the defaults (the seed may or may not store some)."""
    site.python(
        "from django.contrib.auth.models import User; from inbox.models import Preference, DigestSchedule; "
        "from inbox.recipients import key_of; t, i = key_of(User.objects.get(username='alice')); "
        "Preference.objects.filter(recipient_type_id=t, recipient_id=i).delete(); "
        "DigestSchedule.objects.filter(recipient_type_id=t, recipient_id=i).delete()"
    )


def enabled(site: Site, category: str, channel: str = "email") -> bool:
    return site.python(
        "from django.contrib.auth.models import User; from inbox.services import preferences; "
        f"print(preferences.is_enabled(User.objects.get(username='alice'), {category!r}, {channel!r}))"
    ) == "True"


def unsubscribe_url(site: Site, category: str = "comments") -> str:
    return site.python(
        "from django.contrib.auth.models import User; from django.urls import reverse; "
        "from inbox.recipients import key_of; from inbox.unsubscribe import make_token; "
        f"print(reverse('inbox:unsubscribe', args=[make_token(key_of(User.objects.get(username='alice')), {category!r}, 'email')]))"
    )


def test_a_toggle_saves_at_once_with_javascript(make_page: MakePage, site: Site):
    forget_choices(site)
    page = make_page()
    page.goto(f"{site.url}{PREFS}")
    expect(page.locator(".inbox-prefs__save")).to_be_hidden()  # nothing to press: each box saves
    box = page.get_by_role("checkbox", name="Comments by E-mail")
    expect(box).to_be_checked()
    box.uncheck()
    expect(page.locator("#inbox-prefs-status")).to_contain_text("Saved: Comments by E-mail is off.")
    expect(page.locator(COMMENTS)).to_be_focused()  # the swapped cell keeps the focus
    assert not enabled(site, "comments")
    page.reload()
    expect(page.locator(COMMENTS)).not_to_be_checked()

    # The master switch: the cells keep their values but show paused.
    page.get_by_role("checkbox", name="All E-mail notifications").uncheck()
    expect(page.locator("#inbox-prefs-status")).to_contain_text("all E-mail notifications are off")
    expect(page.locator("#inbox-prefs-cell-deploys-email")).to_have_class("inbox-prefs__cell is-paused")
    expect(page.locator("#inbox-pref-deploys-email")).to_be_checked()
    assert not enabled(site, "deploys")
    page.get_by_role("checkbox", name="All E-mail notifications").check()
    expect(page.locator("#inbox-prefs-cell-deploys-email")).to_have_class("inbox-prefs__cell")
    assert enabled(site, "deploys")


def test_a_digest_schedule_shows_only_the_fields_it_needs_and_saves(make_page: MakePage, site: Site):
    forget_choices(site)
    page = make_page()
    page.goto(f"{site.url}{PREFS}")
    expect(page.locator("#inbox-prefs-time-email")).to_be_hidden()
    page.get_by_label("How often", exact=True).select_option("weekly")
    expect(page.locator("#inbox-prefs-status")).to_contain_text("Weekly digest")
    expect(page.locator("#inbox-prefs-time-email")).to_be_visible()
    expect(page.locator("#inbox-prefs-weekday-email")).to_be_visible()
    page.get_by_label("Time zone", exact=True).select_option("Europe/Paris")
    expect(page.locator("#inbox-prefs-status")).to_contain_text("Weekly digest")
    settle(page)
    assert site.python(
        "from inbox.models import DigestSchedule; s = DigestSchedule.objects.get(recipient_id=str("
        "__import__('django.contrib.auth.models', fromlist=['User']).User.objects.get(username='alice').pk)); "
        "print(s.frequency, s.time_zone)"
    ) == "weekly Europe/Paris"


def test_the_form_saves_without_javascript(make_page: MakePage, site: Site):
    forget_choices(site)
    page = make_page(js=False)
    page.goto(f"{site.url}{PREFS}")
    page.get_by_role("checkbox", name="Comments by E-mail").uncheck()
    page.get_by_label("How often", exact=True).select_option("daily")
    expect(page.locator("#inbox-prefs-time-email")).to_be_visible()  # CSS alone shows the time for a daily digest
    page.get_by_role("button", name="Save preferences").click()
    page.wait_for_url(f"{site.url}{PREFS}")
    expect(page.locator(".inbox-toast")).to_contain_text("Preferences saved.")
    assert not enabled(site, "comments") and enabled(site, "deploys")
    page.reload()
    expect(page.locator(COMMENTS)).not_to_be_checked()
    expect(page.get_by_label("How often", exact=True)).to_have_value("daily")


def test_the_locked_row_is_disabled_and_says_why(make_page: MakePage, site: Site):
    page = make_page()
    page.goto(f"{site.url}{PREFS}")
    box = page.get_by_role("checkbox", name="Security by E-mail")
    expect(box).to_be_checked()
    expect(box).to_be_disabled()
    expect(box).to_have_accessible_description("Always on: Security notifications cannot be turned off.")


def test_unsubscribe_asks_then_undoes(make_page: MakePage, site: Site):
    forget_choices(site)
    page = make_page()
    page.goto(f"{site.url}{unsubscribe_url(site)}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Stop Comments e-mails to")
    assert enabled(site, "comments")  # the GET changed nothing
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    assert not enabled(site, "comments")
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are subscribed again")
    assert enabled(site, "comments")
    page.goto(f"{site.url}/inbox/unsubscribe/not-a-token/")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link does not work")


def _paused_and_digest(site: Site) -> None:
    """A state worth looking at: one category off, a daily digest."""
    site.python(
        "import datetime; from django.contrib.auth.models import User; from inbox.services import preferences; "
        "alice = User.objects.get(username='alice'); preferences.set_preference(alice, 'billing', 'email', False); "
        "preferences.set_schedule(alice, 'email', 'daily', time=datetime.time(8, 30), time_zone='Europe/Paris')"
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_axe_and_screenshots(make_page: MakePage, site: Site, viewport: dict[str, int], scheme: str, artifacts: Path):
    forget_choices(site)
    _paused_and_digest(site)
    width = viewport["width"]
    found = {}
    page: Page = make_page(viewport, scheme)
    page.goto(f"{site.url}{PREFS}")
    if issues := problems(page):
        found["preferences"] = issues
    # On a phone the grid fits: no sideways scrolling of the page.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artifacts / f"preferences-{width}-{scheme}.png"), full_page=True)
    page.get_by_role("checkbox", name="Comments by E-mail").uncheck()  # the "Saved" status
    expect(page.locator("#inbox-prefs-status")).to_contain_text("Saved")
    if issues := problems(page):
        found["saved"] = issues
    page.goto(f"{site.url}{unsubscribe_url(site)}")
    if issues := problems(page):
        found["unsubscribe"] = issues
    page.screenshot(path=str(artifacts / f"unsubscribe-{width}-{scheme}.png"), full_page=True)
    page.goto(f"{site.url}/inbox/unsubscribe/not-a-token/")
    if issues := problems(page):
        found["unsubscribe-invalid"] = issues

    # Without the page's scripts: the plain form with its Save button.
    plain = make_page(viewport, scheme, page_scripts=False)
    plain.goto(f"{site.url}{PREFS}")
    expect(plain.locator(".inbox-prefs__save")).to_be_visible()
    if issues := problems(plain):
        found["preferences-no-js"] = issues
    plain.screenshot(path=str(artifacts / f"preferences-{width}-{scheme}-nojs.png"), full_page=True)
    assert found == {}
