"""Issue 11, the preferences page and the one-click unsubscribe pages (inbox.preference_views, inbox.unsubscribe_views)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from inbox import unsubscribe
from inbox.channels.base import Channel
from inbox.models import DigestSchedule, Preference
from inbox.recipients import key_of
from inbox.services import preferences

pytestmark = pytest.mark.django_db

URL = "/inbox/preferences/"
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
CATEGORIES = [
    {"slug": "comments", "label": "Comments", "description": "Replies to your posts."},
    {"slug": "deploys", "label": "Deploys"},
    {"slug": "security", "label": "Security", "description": "Sign-ins.", "locked": True},
]


@pytest.fixture(autouse=True)
def declared(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.INBOX = {**settings.INBOX, "CATEGORIES": CATEGORIES}
    # Other test modules define channels of their own when pytest imports them: the page here
    # shows the built-in ones only, whatever else the run collected.
    monkeypatch.setattr(Channel, "registry", {
        name: channel for name, channel in Channel.registry.items() if channel.__module__.startswith("inbox.")
    })


@pytest.fixture
def logged_in(client: Client, alice: User) -> Client:
    client.force_login(alice)
    client.raise_request_exception = False
    return client


def email_label() -> str:
    return str(Channel.registry["email"].label)


def rows() -> set[tuple[str, str, bool]]:
    return set(Preference.objects.values_list("category", "channel", "enabled"))


def ticked(html: str) -> set[str]:
    """The values of the checked boxes of a page or fragment."""
    return {value for tag in re.findall(r"<input[^>]*>", html) if " checked" in tag
            for value in re.findall(r'name="on" value="([^"]*)"', tag)}


def every_cell(alice: User) -> set[str]:
    """The "on" values of every cell and master switch the page shows."""
    grid = preferences.grid(alice)
    return {f":{name}" for name, _label in grid.channels} | {
        f"{category.slug}:{cell.channel}" for category, cells in grid.rows for cell in cells}


# -- The page ------------------------------------------------------------------------------------


def test_the_page_is_a_real_table_with_headers_and_named_checkboxes(logged_in: Client) -> None:
    response = logged_in.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<caption" in html
    assert re.search(rf'<th scope="col" class="inbox-prefs__channel">\s*<span>{email_label()}</span>', html)
    row_headers = re.findall(r'<th scope="row">\s*<span class="inbox-prefs__name">(?:<svg.*?</svg>)?<span>([^<]*)</span>', html, re.S)
    assert row_headers == ["Comments", "Deploys", "Security"]
    assert "Replies to your posts." in html
    # Every cell a real checkbox, named "<category> by <channel>", on by default.
    assert f"Comments by {email_label()}" in html and f"All {email_label()} notifications" in html
    assert {"comments:email", "deploys:email", "security:email", ":email"} <= ticked(html)
    # The page is never cached (it is one person's), and the no-JS form posts back here.
    assert "no-store" in response["Cache-Control"]
    assert re.search(r'<form id="inbox-prefs"[^>]*method="post" action="/inbox/preferences/"', html)


def test_a_locked_category_is_checked_disabled_and_says_why(logged_in: Client) -> None:
    html = logged_in.get(URL).content.decode()
    box = re.search(r'<input[^>]*value="security:email"[^>]*>', html, re.S)
    assert box is not None
    tag = box.group(0)
    assert "checked" in tag and "disabled" in tag and 'aria-describedby="inbox-prefs-lock-security"' in tag
    assert "hx-post" not in tag
    reason = re.search(r'id="inbox-prefs-lock-security">.*?<span>([^<]*)</span>', html, re.S)
    assert reason is not None and reason.group(1) == "Always on: Security notifications cannot be turned off."


def test_anonymous_visitors_are_sent_to_log_in(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/inbox/preferences/")
    assert client.post(URL, {"category": "comments", "channel": "email"}).status_code == 302
    assert not Preference.objects.exists()


def test_the_page_reads_a_constant_number_of_queries(logged_in: Client, settings: Any,
                                                      warm_content_types: None) -> None:
    logged_in.get(URL)  # sessions, content types and templates warmed

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get(URL).status_code == 200
        return len(captured)

    few = queries()
    settings.INBOX = {**settings.INBOX, "CATEGORIES": CATEGORIES + [f"extra-{i}" for i in range(20)]}
    many = queries()
    assert "Extra 19" in logged_in.get(URL).content.decode()
    assert few == many
    # Session, user, the grid's two reads (choices, schedules), Stats, and the base page's preview.
    assert many <= 7


def test_a_category_label_is_escaped(logged_in: Client, settings: Any) -> None:
    settings.INBOX = {**settings.INBOX, "CATEGORIES": [
        {"slug": "evil", "label": "<script>alert(1)</script>", "description": "<img src=x onerror=alert(2)>"}]}
    html = logged_in.get(URL).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


# -- Saving with htmx, one control at a time ---------------------------------------------------


def test_an_htmx_toggle_saves_at_once_and_returns_the_cell(logged_in: Client, alice: User) -> None:
    # The box is unticked: htmx sends the form without its value, plus the cell's hx-vals.
    others = sorted(every_cell(alice) - {"comments:email", "security:email"})
    response = logged_in.post(URL, {"category": "comments", "channel": "email", "on": others}, **HTMX)
    assert response.status_code == 200
    assert rows() == {("comments", "email", False)}
    assert not preferences.is_enabled(alice, "comments", "email")
    assert preferences.is_enabled(alice, "deploys", "email")
    html = response.content.decode()
    # The one cell (re-rendered, unticked, same id so htmx keeps the focus on it) ...
    assert html.lstrip().startswith('<td id="inbox-prefs-cell-comments-email"')
    assert 'id="inbox-pref-comments-email"' in html and ticked(html) == set()
    assert "<table" not in html
    # ... and "Saved" into the page's polite live region, out of band.
    status = re.search(r'<p id="inbox-prefs-status"[^>]*hx-swap-oob="innerHTML"[^>]*>(.*?)</p>', html, re.S)
    assert status is not None and f"Saved: Comments by {email_label()} is off." in status.group(1)
    event = json.loads(response["HX-Trigger"])["inbox:preferences-saved"]
    assert event["category"] == "comments" and event["channel"] == "email" and event["enabled"] is False

    # Ticking it again turns it back on.
    response = logged_in.post(URL, {"category": "comments", "channel": "email", "on": [*others, "comments:email"]}, **HTMX)
    assert response.status_code == 200 and ticked(response.content.decode()) == {"comments:email"}
    assert preferences.is_enabled(alice, "comments", "email")


def test_an_explicit_enabled_field_wins(logged_in: Client, alice: User) -> None:
    response = logged_in.post(URL, {"category": "deploys", "channel": "email", "enabled": "0",
                                    "on": ["deploys:email"]}, **HTMX)
    assert response.status_code == 200
    assert rows() == {("deploys", "email", False)}


def test_the_master_switch_returns_the_whole_table_and_keeps_the_cells(logged_in: Client, alice: User) -> None:
    preferences.set_preference(alice, "deploys", "email", False)
    response = logged_in.post(URL, {"category": "", "channel": "email", "on": ["comments:email"]}, **HTMX)
    assert response.status_code == 200
    assert rows() == {("deploys", "email", False), ("", "email", False)}
    assert not preferences.is_enabled(alice, "comments", "email")
    assert preferences.is_enabled(alice, "security", "email")  # locked: always on
    html = response.content.decode()
    assert html.lstrip().startswith('<table id="inbox-prefs-table"')
    # The cells keep their stored values, shown paused and described as such.
    assert ticked(html) == {"comments:email", "security:email"}
    cell = re.search(r'<td id="inbox-prefs-cell-comments-email" class="([^"]*)"', html)
    assert cell is not None and "is-paused" in cell.group(1)
    assert 'aria-describedby="inbox-prefs-paused-email"' in html and 'id="inbox-prefs-paused-email"' in html
    assert f"Saved: all {email_label()} notifications are off." in html
    # Back on: nothing paused.
    html = logged_in.post(URL, {"category": "", "channel": "email", "on": [":email"]}, **HTMX).content.decode()
    assert "is-paused" not in html and preferences.is_enabled(alice, "comments", "email")


def test_an_htmx_schedule_change_saves_that_channel(logged_in: Client, alice: User) -> None:
    response = logged_in.post(URL, {"schedule": "email", "frequency:email": "weekly", "time:email": "08:30",
                                    "weekday:email": "4", "time_zone:email": "Europe/Paris"}, **HTMX)
    assert response.status_code == 200
    schedule = DigestSchedule.objects.get()
    assert (schedule.channel, schedule.frequency, schedule.time.strftime("%H:%M"), schedule.weekday,
            schedule.time_zone) == ("email", "weekly", "08:30", 4, "Europe/Paris")
    html = response.content.decode()
    assert html.lstrip().startswith('<fieldset id="inbox-prefs-schedule-email"')
    assert '<option value="weekly" selected>' in html and "<option selected>Europe/Paris</option>" in html
    assert 'value="08:30"' in html


# -- Saving without JavaScript: the whole form ------------------------------------------------


def page_form(alice: User, **changes: Any) -> dict[str, Any]:
    """What the browser submits for the page as shown now (defaults), with ``changes``."""
    data: dict[str, Any] = {"on": sorted(every_cell(alice) - {"security:email"})}
    for name, _label in preferences.grid(alice).channels:
        data.update({f"frequency:{name}": "immediately", f"time:{name}": "09:00", f"weekday:{name}": "0",
                     f"time_zone:{name}": "UTC"})
    data.update(changes)
    return data


def test_saving_the_form_unchanged_writes_nothing(logged_in: Client, alice: User) -> None:
    response = logged_in.post(URL, page_form(alice))
    assert response.status_code == 303 and response["Location"] == URL
    assert not Preference.objects.exists() and not DigestSchedule.objects.exists()


def test_the_form_sets_every_cell_from_the_boxes(logged_in: Client, alice: User) -> None:
    preferences.set_preference(alice, "deploys", "email", False)
    data = page_form(alice, **{"frequency:email": "daily", "time:email": "07:15"})
    data["on"] = [value for value in data["on"] if value != "comments:email"] + ["deploys:email"]
    response = logged_in.post(URL, data, follow=True)
    assert response.redirect_chain == [(URL, 303)]
    assert rows() == {("comments", "email", False), ("deploys", "email", True)}
    schedule = DigestSchedule.objects.get()
    # The preselected site zone (UTC here) is stored as "": it keeps following settings.TIME_ZONE.
    assert (schedule.frequency, schedule.time.strftime("%H:%M"), schedule.time_zone) == ("daily", "07:15", "")
    html = response.content.decode()
    assert "Preferences saved." in html  # a toast after the redirect
    assert "comments:email" not in ticked(html) and "deploys:email" in ticked(html)


def test_the_form_turns_a_master_switch_off_and_ignores_locked_boxes(logged_in: Client, alice: User) -> None:
    data = page_form(alice)
    data["on"] = [value for value in data["on"] if value != ":email"]  # security:email never sent (disabled)
    assert logged_in.post(URL, data).status_code == 303
    assert rows() == {("", "email", False)}


# -- Bad input: a 400 that changed nothing -----------------------------------------------------


@pytest.mark.parametrize("data", [
    {"category": "security", "channel": "email", "enabled": "0"},
    {"category": "nope", "channel": "email", "enabled": "0"},
    {"category": "comments", "channel": "carrier-pigeon", "enabled": "0"},
    {"category": "comments", "channel": "console", "enabled": "0"},
    {"category": "comments", "channel": "email", "enabled": "maybe"},
    {"schedule": "email", "frequency:email": "yearly", "time:email": "09:00", "weekday:email": "0", "time_zone:email": "UTC"},
    {"schedule": "email", "frequency:email": "daily", "time:email": "25:99", "weekday:email": "0", "time_zone:email": "UTC"},
    {"schedule": "email", "frequency:email": "daily", "time:email": "09:00", "weekday:email": "9", "time_zone:email": "UTC"},
    {"schedule": "email", "frequency:email": "daily", "time:email": "09:00", "weekday:email": "0", "time_zone:email": "Mars/Olympus"},
    {"schedule": "nope", "frequency:nope": "daily"},
], ids=["locked", "unknown-category", "unknown-channel", "console", "bad-enabled", "bad-frequency", "bad-time",
        "bad-weekday", "bad-time-zone", "unknown-schedule-channel"])
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_bad_input_is_a_400_that_changes_nothing(logged_in: Client, data: dict[str, Any], htmx: bool) -> None:
    response = logged_in.post(URL, data, **(HTMX if htmx else {}))
    assert response.status_code == 400
    assert not Preference.objects.exists() and not DigestSchedule.objects.exists()
    html = response.content.decode()
    if htmx:
        # The stored state again (the browser's boxes may show what did not happen), and why.
        assert response["HX-Retarget"] == "#inbox-prefs-settings" and response["HX-Reswap"] == "outerHTML"
        assert html.lstrip().startswith('<div id="inbox-prefs-settings"')
        assert "inbox-toast--error" in html and "is-error" in html
    else:
        assert 'role="alert"' in html and "Nothing was saved:" in html


def test_a_bad_field_in_the_form_saves_none_of_the_good_ones(logged_in: Client, alice: User) -> None:
    data = page_form(alice, **{"time_zone:email": "Nowhere/Atall", "frequency:email": "daily"})
    data["on"] = [value for value in data["on"] if value != "comments:email"]
    response = logged_in.post(URL, data)
    assert response.status_code == 400
    assert "Nowhere/Atall" in response.content.decode()
    assert not Preference.objects.exists() and not DigestSchedule.objects.exists()
    # An unknown box: same.
    data = page_form(alice)
    data["on"] = [value for value in data["on"] if value != "comments:email"] + ["made-up:email"]
    assert logged_in.post(URL, data).status_code == 400
    assert not Preference.objects.exists()


def test_changes_need_csrf(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(URL, {"category": "comments", "channel": "email", "enabled": "0"}, **HTMX)
    assert response.status_code == 403
    assert not Preference.objects.exists()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(URL).content.decode())
    assert token is not None
    response = client.post(URL, {"category": "comments", "channel": "email", "enabled": "0",
                                 "csrfmiddlewaretoken": token.group(1)}, **HTMX)
    assert response.status_code == 200 and rows() == {("comments", "email", False)}


def test_a_get_never_changes_anything(logged_in: Client) -> None:
    logged_in.get(URL, {"category": "comments", "channel": "email", "enabled": "0"})
    assert not Preference.objects.exists()


# -- Unsubscribe ---------------------------------------------------------------------------------


@pytest.fixture
def dana(db: None) -> User:
    return User.objects.create_user("dana", email="dana.smith@example.com", password="pw")


def link(user: User, category: str = "comments", channel: str = "email") -> str:
    return f"/inbox/unsubscribe/{unsubscribe.make_token(key_of(user), category, channel)}/"


def test_the_unsubscribe_link_asks_first_and_changes_nothing(client: Client, dana: User) -> None:
    response = client.get(link(dana))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Stop Comments e-mails to d•••h@example.com?" in html
    assert "dana.smith@" not in html  # masked
    assert re.search(r'<form method="post" action="/inbox/unsubscribe/[^"]+/"', html)
    assert 'href="/inbox/preferences/"' in html
    assert not Preference.objects.exists()
    assert response["Referrer-Policy"] == "no-referrer" and "no-store" in response["Cache-Control"]


def test_the_one_click_post_turns_off_exactly_that_cell_without_login_or_csrf(dana: User, bob: User) -> None:
    client = Client(enforce_csrf_checks=True)  # a mail client: no cookie, no CSRF token
    response = client.post(link(dana), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert list(Preference.objects.values_list("recipient_id", "category", "channel", "enabled")) == [
        (str(dana.pk), "comments", "email", False)]
    assert not preferences.is_enabled(dana, "comments", "email")
    assert preferences.is_enabled(dana, "deploys", "email") and preferences.is_enabled(bob, "comments", "email")


def test_undo_turns_it_back_on(client: Client, dana: User) -> None:
    url = link(dana)
    html = client.post(url).content.decode()
    assert re.search(r'<input type="hidden" name="undo" value="1">', html)
    response = client.post(url, {"undo": "1"})
    assert response.status_code == 200 and "You are subscribed again" in response.content.decode()
    assert preferences.is_enabled(dana, "comments", "email")


def test_a_whole_channel_token_turns_the_master_switch_off(client: Client, dana: User) -> None:
    url = link(dana, category="")
    assert "Stop all e-mails to d•••h@example.com?" in client.get(url).content.decode()
    assert client.post(url).status_code == 200
    assert rows() == {("", "email", False)}


def _forged(user: User, other: User) -> str:
    """``user``'s signature on ``other``'s payload: edited to reach someone else."""
    mine = unsubscribe.make_token(key_of(user), "comments", "email")
    theirs = unsubscribe.make_token(key_of(other), "comments", "email")
    return ":".join(theirs.split(":")[:-1] + [mine.split(":")[-1]])


def _expired(user: User, monkeypatch: pytest.MonkeyPatch) -> str:
    days = 61 * 24 * 3600
    real = time.time
    # The signer reads the clock through the time module signing imported.
    monkeypatch.setattr(time, "time", lambda: real() - days)
    token = unsubscribe.make_token(key_of(user), "comments", "email")
    monkeypatch.setattr(time, "time", real)
    assert unsubscribe.read_token(token, max_age=100 * 24 * 3600).recipient_id == str(user.pk)  # only too old
    return token


@pytest.mark.parametrize("kind", ["forged", "edited-for-another", "expired", "malformed", "gone", "other-salt"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_bad_unsubscribe_links_are_a_400_that_changes_nothing(client: Client, dana: User, bob: User, kind: str,
                                                             method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if kind == "forged":
        token = signing.dumps([key_of(dana)[0], str(dana.pk), "comments", "email"], salt=unsubscribe.SALT,
                              key="not-the-site-key", compress=True)
    elif kind == "edited-for-another":
        token = _forged(dana, bob)
    elif kind == "expired":
        token = _expired(dana, monkeypatch)
    elif kind == "malformed":
        token = "this-is-not:a-token"
    elif kind == "gone":
        token = unsubscribe.make_token(key_of(bob), "comments", "email")
        bob.delete()
    else:
        token = signing.dumps([key_of(dana)[0], str(dana.pk), "comments", "email"], salt="another.part", compress=True)
    response = getattr(client, method)(f"/inbox/unsubscribe/{token}/")
    assert response.status_code == 400
    html = response.content.decode()
    assert "This link does not work" in html and 'href="/inbox/preferences/"' in html
    assert not Preference.objects.exists()
    assert preferences.is_enabled(dana, "comments", "email")


def test_an_unsubscribe_link_for_a_locked_category_is_refused(client: Client, dana: User) -> None:
    response = client.post(link(dana, category="security"))
    assert response.status_code == 400
    assert "cannot be turned off" in response.content.decode()
    assert not Preference.objects.exists()


def test_the_unsubscribe_page_names_someone_without_an_address(client: Client, alice: User) -> None:
    html = client.get(link(alice)).content.decode()
    assert "Stop Comments e-mails to alice?" in html


def team_first(request: Any) -> list[Any]:
    """A resolver for a shared inbox: bob's (the team's) first, then the person's own."""
    return [User.objects.get(username="bob"), request.user] if request.user.is_authenticated else []


def test_the_page_is_the_first_recipient_s(logged_in: Client, alice: User, bob: User, settings: Any) -> None:
    settings.INBOX = {**settings.INBOX, "RECIPIENTS_RESOLVER": f"{__name__}.team_first"}
    assert logged_in.post(URL, {"category": "comments", "channel": "email", "enabled": "0"}).status_code == 303
    assert not preferences.is_enabled(bob, "comments", "email")
    assert preferences.is_enabled(alice, "comments", "email")
