"""Issue 9, the server side of the redesigned inbox: tabs, chips, row and detail actions,
the delete that leaves the detail page by GET, the one bell, icons, avatars and times."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.utils import timezone

from inbox.models import Notification, Stats
from inbox.services import manager, notifier

pytestmark = pytest.mark.django_db

LIST = "/inbox/"
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-results"}


@pytest.fixture
def logged_in(client: Client, alice: User) -> Client:
    client.force_login(alice)
    client.raise_request_exception = False
    return client


def many(user: User, count: int, **kwargs: Any) -> list[Notification]:
    return [notifier.send(f"note {i}", user, **kwargs)[0] for i in range(count)]


def action_url(note: Notification) -> str:
    return f"/inbox/{note.uid}/action/"


def flags(note: Notification) -> str:
    note = Notification.objects.get(pk=note.pk)
    return "".join(k for k, v in (("r", note.is_read), ("s", note.is_starred), ("a", note.is_archived)) if v)


# -- Tabs and chips --------------------------------------------------------------------------


def test_tabs_count_from_stats_and_mark_the_current_one(logged_in: Client, alice: User) -> None:
    notes = many(alice, 5)
    manager.mark_read(Notification.objects.filter(pk=notes[0].pk))
    manager.star(Notification.objects.filter(pk=notes[1].pk))
    manager.archive(Notification.objects.filter(pk=notes[2].pk))
    html = logged_in.get(f"{LIST}?status=starred").content.decode()
    tabs = dict(re.findall(r'class="inbox-tab"[^>]*>\s*(\w+)(?: <span class="inbox-tab__count[^"]*">(\d+)</span>)?', html))
    assert tabs == {"Inbox": "4", "Unread": "3", "Starred": "1", "Archived": "1", "All": "5"}
    assert re.search(r'href="/inbox/\?status=starred" aria-current="page"', html)
    assert 'href="/inbox/"' in html  # the Inbox tab is the bare URL


def test_the_all_tab_includes_the_archive(logged_in: Client, alice: User) -> None:
    notes = many(alice, 2)
    manager.archive(Notification.objects.filter(pk=notes[0].pk))
    html = logged_in.get(f"{LIST}?status=everything").content.decode()
    assert html.count('name="page_uid"') == 2


def test_category_chips_come_from_the_registry_in_order(logged_in: Client, alice: User, settings: Any) -> None:
    settings.INBOX = {"CATEGORIES": [{"slug": "zeta", "label": "Zeta things", "order": 1, "icon": "shield"}, "alpha"]}
    many(alice, 1, category="zeta")
    html = logged_in.get(f"{LIST}?category=zeta").content.decode()
    chips = re.findall(r'class="inbox-chip" href="([^"]*)"', html)
    assert chips == ["/inbox/", "/inbox/?category=zeta", "/inbox/?category=alpha"]
    assert re.search(r'href="/inbox/\?category=zeta" aria-current="page"', html)
    assert "Zeta things" in html and "inbox-icon--shield" in html
    # A category nobody declared still gets a chip while it is the filter.
    assert "/inbox/?category=other-thing" in logged_in.get(f"{LIST}?category=other-thing").content.decode()


def test_the_list_reads_no_count_and_a_constant_number_of_queries(
        logged_in: Client, alice: User, bob: User, warm_content_types: None) -> None:
    for i in range(60):
        notifier.send(f"n{i}", alice, actor=bob, category="comments")
    logged_in.get(LIST)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert logged_in.get(f"{LIST}?per_page=50").status_code == 200
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_search_and_advanced_filters(logged_in: Client, alice: User) -> None:
    many(alice, 2)
    html = logged_in.get(f"{LIST}?q=note&level=30").content.decode()
    assert 'value="note"' in html
    # One advanced filter is active: the disclosure says so.
    assert re.search(r'<span class="inbox-pill">1</span>', html)
    assert 'id="id_q"' in html and 'id="id_level"' in html and 'id="id_status"' not in html


@pytest.mark.parametrize("status, words", [
    ("", "You're all caught up"), ("unread", "No unread notifications"), ("starred", "Nothing starred"),
    ("archived", "Nothing archived"), ("everything", "No notifications yet"),
])
def test_each_tab_has_its_own_empty_state(logged_in: Client, status: str, words: str) -> None:
    html = logged_in.get(f"{LIST}?status={status}" if status else LIST).content.decode()
    assert words in html and "inbox-empty__icon" in html


def test_rows_are_grouped_by_day_when_sorted_by_time(logged_in: Client, alice: User) -> None:
    now = timezone.now()
    for days in (0, 1, 5):
        [note] = notifier.send(f"from {days} days ago", alice)
        Notification.objects.filter(pk=note.pk).update(sent_at=now - datetime.timedelta(days=days, minutes=1))
    html = logged_in.get(LIST).content.decode()
    assert re.findall(r'<h2 class="inbox-group"[^>]*>(\w+)</h2>', html) == ["Today", "Yesterday", "Earlier"]
    assert '<h2 class="inbox-group"' not in logged_in.get(f"{LIST}?sort=level").content.decode()


def test_only_sensible_bulk_actions_per_tab(logged_in: Client, alice: User) -> None:
    notes = many(alice, 2)
    manager.archive(Notification.objects.filter(pk=notes[0].pk))
    actions = lambda query: re.findall(r'data-inbox-action="(\w+)"', logged_in.get(f"{LIST}?{query}").content.decode())  # noqa: E731
    assert "unread" not in actions("status=unread") and "read" in actions("status=unread")
    assert "archive" not in actions("status=archived") and "unarchive" in actions("status=archived")
    assert "unarchive" not in actions("")
    manager.archive(Notification.objects.filter(pk=notes[1].pk))
    assert actions("") == []  # an empty tab has no bulk bar at all


def test_select_all_without_javascript_means_this_page(logged_in: Client, alice: User) -> None:
    notes = many(alice, 3)
    uids = [str(n.uid) for n in notes]
    response = logged_in.post("/inbox/bulk/", {"action": "read", "select_page": "1", "page_uid": uids})
    assert response.status_code == 303
    assert Stats.objects.recipients([alice]).get().unread == 0


# -- One notification's actions ----------------------------------------------------------------


def test_a_row_action_without_javascript_returns_to_the_list_as_it_was(logged_in: Client, alice: User) -> None:
    [note] = many(alice, 1)
    response = logged_in.post(action_url(note), {"action": "star", "next": "list", "status": "unread", "per_page": "50"})
    assert response.status_code == 303 and response["Location"] == "/inbox/?status=unread&per_page=50"
    assert flags(note) == "s"
    assert "1 notification starred." in logged_in.get(response["Location"]).content.decode()


def test_a_row_action_with_htmx_answers_the_results_badge_and_toast(logged_in: Client, alice: User) -> None:
    [note, other] = many(alice, 2)
    response = logged_in.post(action_url(note), {"action": "read", "next": "list"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="inbox-results"')
    assert 'id="inbox-badge"' in html and "1 notification marked read." in html
    assert "inbox:changed" in response["HX-Trigger"]
    assert flags(note) == "r" and flags(other) == ""


def test_a_detail_action_stays_on_the_detail_page(logged_in: Client, alice: User) -> None:
    [note] = many(alice, 1)
    response = logged_in.post(f"{action_url(note)}?status=unread", {"action": "archive", "next": "detail"})
    assert response.status_code == 303 and response["Location"] == f"/inbox/{note.uid}/?status=unread"
    htmx = logged_in.post(f"{action_url(note)}?status=unread", {"action": "star", "next": "detail"},
                          HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-detail")
    html = htmx.content.decode()
    assert htmx.status_code == 200 and html.lstrip().startswith('<article id="inbox-detail"')
    assert 'value="unstar"' in html and 'value="unarchive"' in html and "hx-trigger" not in html.split("inbox-badge")[0]
    assert flags(note) == "sa"


def test_delete_from_the_detail_page_confirms_then_leaves_by_get(logged_in: Client, alice: User) -> None:
    [note] = many(alice, 1)
    url = f"{action_url(note)}?status=unread"
    ask = logged_in.post(url, {"action": "delete", "next": "detail"})
    assert ask.status_code == 200 and b'role="alertdialog"' in ask.content and Notification.objects.exists()
    assert f'action="{url}"' in ask.content.decode()
    asked = logged_in.post(url, {"action": "delete", "next": "detail"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-detail")
    assert asked.content.decode().lstrip().startswith('<div id="inbox-detail"') and b"<html" not in asked.content
    done = logged_in.post(url, {"action": "delete", "next": "detail", "confirm": "1"}, HTTP_HX_REQUEST="true")
    assert done.status_code == 200 and done["HX-Redirect"] == "/inbox/?status=unread"
    assert not Notification.objects.exists()
    assert "1 notification deleted." in logged_in.get("/inbox/?status=unread").content.decode()
    [again] = many(alice, 1)
    plain = logged_in.post(action_url(again), {"action": "delete", "next": "detail", "confirm": "1"})
    assert plain.status_code == 303 and plain["Location"] == "/inbox/"


def test_one_notification_actions_are_scoped_checked_and_post_only(logged_in: Client, alice: User, bob: User) -> None:
    [theirs] = many(bob, 1)
    [mine] = many(alice, 1)
    assert logged_in.post(action_url(theirs), {"action": "archive"}).status_code == 404
    assert flags(theirs) == ""
    assert logged_in.post(action_url(mine), {"action": "explode"}).status_code == 400
    assert logged_in.post(action_url(mine), {"action": "read", "next": "list", "level": "abc"}).status_code == 400
    assert logged_in.get(action_url(mine)).status_code == 405
    assert flags(mine) == ""
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(action_url(mine), {"action": "read"}).status_code == 403
    response = logged_in.post(action_url(mine), {"action": "star"})
    assert {"private", "no-store"} <= {p.strip() for p in response["Cache-Control"].split(",")}


def test_the_detail_page_marks_itself_read_on_load_only_the_first_time(logged_in: Client, alice: User) -> None:
    [note] = many(alice, 1)
    page = logged_in.get(f"/inbox/{note.uid}/").content.decode()
    assert 'hx-trigger="load, submit"' in page and "Mark as read" in page
    answer = logged_in.post(f"/inbox/{note.uid}/", HTTP_HX_REQUEST="true").content.decode()
    assert answer.lstrip().startswith('<div id="inbox-detail-actions"') and "Mark as read" not in answer
    assert 'value="unread"' in answer and 'id="inbox-badge"' in answer


def test_the_open_link_is_a_primary_button_with_readable_text(logged_in: Client, alice: User) -> None:
    [note] = many(alice, 1, url="/somewhere/")
    html = logged_in.get(f"/inbox/{note.uid}/").content.decode()
    assert re.search(r'<a class="inbox-button inbox-button--primary[^"]*" href="/somewhere/">Open', html)
    css = (__import__("pathlib").Path(__file__).resolve().parent.parent / "inbox/static/inbox/inbox.css").read_text()
    # Links inside the kit take the accent colour with no specificity, so a button keeps its own.
    assert ":where(.inbox, .inbox-preview, .inbox-toast, .inbox-messages) a" in css and ".inbox a {" not in css


def test_the_confirm_dialog_is_not_a_form_with_a_dialog_role(logged_in: Client, alice: User) -> None:
    [note] = many(alice, 1)
    html = logged_in.post("/inbox/bulk/", {"action": "delete", "uid": [str(note.uid)]}).content.decode()
    assert re.search(r'<div class="inbox-confirm" role="alertdialog"', html) and '<form role=' not in html


# -- The bell, icons, avatars, times ------------------------------------------------------------


def render(source: str, user: User, **context: Any) -> str:
    from django.contrib.messages.storage.fallback import FallbackStorage

    request = RequestFactory().get("/")
    request.user = user
    request.session = {}  # type: ignore[assignment]
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    return Template("{% load inbox %}" + source).render(Context({"request": request, **context}))


def test_a_page_has_one_bell(alice: User) -> None:
    many(alice, 3)
    html = render("{% notification_preview %}{% notification_badge %}", alice)
    assert html.count('id="inbox-badge"') == 1 and 'popovertarget="inbox-preview-panel"' in html
    assert 'aria-label="3 unread notifications"' in html
    alone = render("{% notification_badge %}", alice)
    assert '<a class="inbox-bell" href="/inbox/">' in alone and 'id="inbox-badge"' in alone


def test_the_preview_has_mark_all_and_see_all_inside_its_popover(alice: User) -> None:
    many(alice, 2)
    html = render("{% notification_preview %}", alice)
    panel = html[html.index('id="inbox-preview-panel"'):]
    assert "Mark all as read" in panel and "See all notifications" in panel and " popover " in html


def test_inbox_icon_is_inline_decorative_svg(alice: User) -> None:
    html = render('{% inbox_icon "archive" 20 "x" %}{% inbox_icon "no-such-icon" %}', alice)
    assert html.count('aria-hidden="true"') == 2 and html.count('focusable="false"') == 2
    assert 'width="20"' in html and "inbox-icon--archive x" in html and "inbox-icon--bell" in html
    assert "http" not in html.replace("http://www.w3.org", "")  # nothing fetched from elsewhere


def test_avatars_initials_tones_and_pictures() -> None:
    from inbox.templatetags.inbox import inbox_avatar_url, inbox_initials, inbox_tone

    assert inbox_initials(User(username="bob")) == "B"
    assert inbox_initials(User(username="x", first_name="Ada", last_name="Lovelace")) == "AL"
    assert inbox_initials(User(username="jean-luc.picard")) == "JP"
    assert inbox_tone("bob") == inbox_tone("bob") and 1 <= inbox_tone("bob") <= 8

    class Pictured:
        def __init__(self, url: str) -> None:
            self.avatar_url = url

    assert inbox_avatar_url(Pictured("https://cdn.example/a.png")) == "https://cdn.example/a.png"
    for bad in ("javascript:alert(1)", "//evil.example/a.png", "data:image/png;base64,xx"):
        assert inbox_avatar_url(Pictured(bad)) == ""
    assert inbox_avatar_url(User(username="u")) == ""


def test_compact_relative_time() -> None:
    from inbox.templatetags.inbox import inbox_ago, inbox_ago_long

    now = timezone.now()
    assert inbox_ago(now) == "now"
    assert inbox_ago(now - datetime.timedelta(minutes=5)) == "5m"
    assert inbox_ago(now - datetime.timedelta(hours=3)) == "3h"
    assert inbox_ago(now - datetime.timedelta(days=2)) == "2d"
    assert inbox_ago_long(now - datetime.timedelta(hours=1)) == "1 hour ago"
    old = now - datetime.timedelta(days=400)
    assert str(timezone.localtime(old).year) in inbox_ago(old)


def test_category_icons_fall_back_sensibly() -> None:
    from inbox.templatetags.icons import icon_for_category

    assert icon_for_category("comments") == "comment"
    assert icon_for_category("deploys") == "rocket"
    assert icon_for_category("whatever") == "tag"
    assert icon_for_category("whatever", "shield") == "shield"


def test_the_two_dark_palettes_are_the_same() -> None:
    """The system's dark mode and a site's forced dark theme set the same tokens (one is a
    @media block, the other an attribute selector, and CSS cannot share one rule between them)."""
    from pathlib import Path

    css = (Path(__file__).resolve().parent.parent / "inbox/static/inbox/inbox.css").read_text()

    def tokens(start: str) -> dict[str, str]:
        block = css[css.index(start):]
        block = block[block.index("{", len(start) - 1) + 1:block.index("}")]
        return dict(re.findall(r"(--inbox-[\w-]+):\s*([^;]+);", block))

    system = tokens(':root:not([data-inbox-theme="light"]) {')
    forced = tokens(':root[data-inbox-theme="dark"] {')
    assert len(system) > 30 and system == forced
