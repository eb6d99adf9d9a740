from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from inbox.models import Level, Notification, Stats
from inbox.services import manager, notifier
from tests.helpers import assert_stats_match_recount
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-results"}
LIST = "/inbox/"


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def unread(user) -> int:
    return Stats.objects.recipients([user]).get().unread


def snapshot() -> list[tuple]:
    return list(Notification.objects.order_by("pk").values_list("pk", "read_at", "seen_at", "archived_at", "starred_at"))


def many(user, count: int, **kwargs) -> list[Notification]:
    return [notifier.send(f"note {i}", user, **kwargs)[0] for i in range(count)]


# -- Access and scoping ---------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    response = client.get(LIST)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(LIST, **HTMX).status_code == 401
    assert client.post("/inbox/bulk/", {"action": "read"}).status_code == 302


def test_another_users_notification_is_404_and_untouched(logged_in, bob):
    [theirs] = notifier.send("bob's secret", bob)
    before = snapshot()
    assert logged_in.get(f"/inbox/{theirs.uid}/").status_code == 404
    assert logged_in.post(f"/inbox/{theirs.uid}/").status_code == 404
    response = logged_in.post("/inbox/bulk/", {"action": "read", "uid": [str(theirs.uid)]})
    assert response.status_code == 303
    response = logged_in.post("/inbox/bulk/", {"action": "delete", "uid": [str(theirs.uid)], "confirm": "1"})
    assert response.status_code == 303
    assert snapshot() == before
    assert b"bob&#x27;s secret" not in logged_in.get(LIST).content


def test_bulk_mixing_own_and_others_changes_only_own(logged_in, alice, bob):
    [mine] = notifier.send("mine", alice)
    [theirs] = notifier.send("theirs", bob)
    logged_in.post("/inbox/bulk/", {"action": "archive", "uid": [str(mine.uid), str(theirs.uid)]})
    assert Notification.objects.get(pk=mine.pk).is_archived
    assert not Notification.objects.get(pk=theirs.pk).is_archived


def test_matching_scope_stays_within_the_requester(logged_in, alice, bob):
    many(alice, 3)
    many(bob, 3)
    logged_in.post("/inbox/bulk/", {"action": "read", "scope": "matching", "status": "unread"})
    assert unread(alice) == 0 and unread(bob) == 3


def test_scheduled_notifications_are_not_shown(logged_in, alice):
    from datetime import timedelta

    from django.utils import timezone

    [later] = notifier.send("future", alice, send_at=timezone.now() + timedelta(hours=1))
    assert logged_in.get(f"/inbox/{later.uid}/").status_code == 404
    assert b"future" not in logged_in.get(LIST).content


def test_csrf_is_required_for_every_change(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    [note] = notifier.send("x", alice)
    for url, data in [
        ("/inbox/bulk/", {"action": "read", "uid": [str(note.uid)]}),
        ("/inbox/mark-all-read/", {}),
        (f"/inbox/{note.uid}/", {}),
    ]:
        assert client.post(url, data).status_code == 403
    assert unread(alice) == 1


def test_get_never_changes_state(logged_in, alice):
    notes = many(alice, 3)
    before = snapshot()
    for url in [LIST, f"{LIST}?status=unread", f"/inbox/{notes[0].uid}/", "/inbox/badge/", "/inbox/preview/",
                "/inbox/bulk/", "/inbox/mark-all-read/"]:
        logged_in.get(url)
    assert snapshot() == before


# -- Bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["level=abc", "category=not a slug", "sent_after=yesterday", "status=bogus", "sort=password", "per_page=7",
     "page=abc", "page=0", "actor_type=nope.model"],
)
def test_bad_list_parameters_are_400_with_a_message(logged_in, alice, query):
    many(alice, 2)
    response = logged_in.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert b'role="alert"' in response.content
    assert logged_in.get(f"{LIST}?{query}", **HTMX).status_code == 400


def test_page_past_the_end_is_404(logged_in, alice):
    many(alice, 3)
    assert logged_in.get(f"{LIST}?page=2").status_code == 404
    assert logged_in.get(f"{LIST}?page=1").status_code == 200


@pytest.mark.parametrize(
    "data",
    [{"action": "explode", "uid": ["x"]}, {"action": "read", "uid": ["not-a-uuid"]}, {"action": "read"},
     {"action": "read", "scope": "everything"}, {"action": "read", "scope": "matching", "level": "abc"}],
)
def test_bad_bulk_input_is_400(logged_in, alice, data):
    many(alice, 1)
    before = snapshot()
    response = logged_in.post("/inbox/bulk/", data)
    assert response.status_code == 400
    htmx = logged_in.post("/inbox/bulk/", data, **HTMX)
    assert htmx.status_code == 400 and htmx["HX-Retarget"] == "#inbox-toasts"
    assert snapshot() == before


def test_malformed_detail_uid_is_404(logged_in):
    assert logged_in.get("/inbox/not-a-uuid/").status_code == 404


# -- Pages and actions ----------------------------------------------------------------------


def test_filters(logged_in, alice, bob):
    article = Article.objects.create(title="a")
    notifier.send("deploy done", alice, category="deploys", level=Level.SUCCESS)
    notifier.send("from bob", alice, actor=bob, target=article, level=Level.ERROR)
    [archived] = notifier.send("old news", alice)
    manager.archive(Notification.objects.filter(pk=archived.pk))

    def rows(query: str) -> list[str]:
        html = logged_in.get(f"{LIST}?{query}").content.decode()
        html = html[html.index('<div class="inbox-table"') :]
        return re.findall(r'class="inbox-open"[^>]*>([^<]*)<', html)

    assert rows("") == ["old news", "from bob", "deploy done"][1:]
    assert rows("status=archived") == ["old news"]
    assert rows("category=deploys") == ["deploy done"]
    assert rows(f"level={Level.ERROR}") == ["from bob"]
    assert rows("actor_type=auth.user") == ["from bob"]
    assert rows("q=DEPLOY") == ["deploy done"]
    assert rows("sent_after=2000-01-01&sent_before=2000-01-02") == []
    assert rows("sort=level") == ["from bob", "deploy done"]


def test_htmx_filter_returns_the_results_fragment_and_a_tidy_url(logged_in, alice):
    many(alice, 2)
    response = logged_in.get(f"{LIST}?status=unread&q=&category=", HTTP_HX_TRIGGER="inbox-filters", **HTMX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<div id="inbox-results"')
    assert response["HX-Push-Url"] == "/inbox/?status=unread"


def test_history_restore_gets_the_whole_page(logged_in, alice):
    response = logged_in.get(LIST, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert b"<html" in response.content


def test_pagination_without_count(logged_in, alice):
    many(alice, 30)
    first = logged_in.get(LIST).content.decode()
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = logged_in.get(f"{LIST}?page=2").content.decode()
    assert second.count('name="page_uid"') == 5 and 'rel="prev"' in second
    assert logged_in.get(f"{LIST}?per_page=50").content.decode().count('name="page_uid"') == 30


@pytest.mark.parametrize(
    "action, check",
    [
        ("read", lambda n: n.is_read),
        ("archive", lambda n: n.is_archived),
        ("star", lambda n: n.is_starred),
    ],
)
def test_bulk_actions_without_javascript(logged_in, alice, action, check):
    notes = many(alice, 3)
    response = logged_in.post("/inbox/bulk/", {"action": action, "uid": [str(notes[0].uid)], "status": "all"})
    assert response.status_code == 303 and response["Location"] == "/inbox/?status=all"
    assert check(Notification.objects.get(pk=notes[0].pk))
    assert not check(Notification.objects.get(pk=notes[1].pk))
    page = logged_in.get(response["Location"]).content.decode()
    assert "1 notification" in page and "inbox-toast" in page  # the kit's message, as a toast
    assert_stats_match_recount()


def test_bulk_undo_actions(logged_in, alice):
    notes = many(alice, 2)
    uids = [str(n.uid) for n in notes]
    for action in ("read", "star", "archive"):
        logged_in.post("/inbox/bulk/", {"action": action, "uid": uids})
    for action in ("unread", "unstar", "unarchive"):
        logged_in.post("/inbox/bulk/", {"action": action, "uid": uids})
    assert all(not n.is_read and not n.is_starred and not n.is_archived for n in Notification.objects.all())
    assert unread(alice) == 2


def test_bulk_with_htmx_returns_table_badge_and_toast(logged_in, alice):
    notes = many(alice, 3)
    response = logged_in.post("/inbox/bulk/", {"action": "read", "uid": [str(n.uid) for n in notes[:2]]}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="inbox-results"')
    assert 'id="inbox-badge"' in html and 'hx-swap-oob="true"' in html
    assert "1 unread notification" in html
    assert 'hx-swap-oob="beforeend:#inbox-toasts"' in html and "2 notifications marked read." in html


def test_scope_page_and_matching(logged_in, alice):
    many(alice, 30)
    page_uids = [str(n.uid) for n in Notification.objects.order_by("-sent_at", "-id")[:25]]
    logged_in.post("/inbox/bulk/", {"action": "read", "scope": "page", "page_uid": page_uids})
    assert unread(alice) == 5
    logged_in.post("/inbox/bulk/", {"action": "archive", "scope": "matching", "status": "unread"})
    assert Stats.objects.recipients([alice]).get().archived == 5


def test_select_all_matching_shows_n_only_from_stats(logged_in, alice):
    many(alice, 4)
    assert "All 4 matching" in logged_in.get(f"{LIST}?status=unread").content.decode()
    page = logged_in.get(f"{LIST}?status=unread&q=note").content.decode()
    assert "All matching" in page and "All 4 matching" not in page


def test_delete_asks_for_confirmation(logged_in, alice):
    notes = many(alice, 2)
    data = {"action": "delete", "uid": [str(notes[0].uid)], "status": "all"}
    response = logged_in.post("/inbox/bulk/", data)
    assert response.status_code == 200 and b"1 notification will be deleted" in response.content
    assert Notification.objects.count() == 2
    htmx = logged_in.post("/inbox/bulk/", data, **HTMX)
    assert b'role="alertdialog"' in htmx.content and b"<html" not in htmx.content
    response = logged_in.post("/inbox/bulk/", {**data, "confirm": "1"})
    assert response.status_code == 303
    assert list(Notification.objects.values_list("pk", flat=True)) == [notes[1].pk]
    assert_stats_match_recount()


def test_mark_all_read(logged_in, alice, bob):
    many(alice, 3)
    many(bob, 2)
    response = logged_in.post("/inbox/mark-all-read/", {"status": "unread"})
    assert response.status_code == 303 and response["Location"] == "/inbox/?status=unread"
    assert unread(alice) == 0 and unread(bob) == 2
    many(alice, 1)
    html = logged_in.post("/inbox/mark-all-read/", {}, **HTMX).content.decode()
    assert "1 notification marked read." in html and "No unread notifications" in html


def test_detail_open_marks_read_and_redirects(logged_in, alice):
    notes = many(alice, 3)
    target = notes[1]
    response = logged_in.post(f"/inbox/{target.uid}/?status=unread")
    assert response.status_code == 303 and response["Location"] == f"/inbox/{target.uid}/?status=unread"
    assert Notification.objects.get(pk=target.pk).is_read
    page = logged_in.get(response["Location"]).content.decode()
    assert "note 1" in page
    # prev / next within the filter the reader came from (newest first)
    assert f"/inbox/{notes[2].uid}/?status=unread" in page and f"/inbox/{notes[0].uid}/?status=unread" in page
    htmx = logged_in.post(f"/inbox/{notes[0].uid}/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and b'id="inbox-badge"' in htmx.content


def test_detail_shows_thread_actor_target_and_link(logged_in, alice, bob):
    article = Article.objects.create(title="Release notes")
    [root] = notifier.send("root", alice)
    [reply] = notifier.send("{actor.username} replied", alice, actor=bob, target=article, parent=root, url="/r/1/")
    page = logged_in.get(f"/inbox/{reply.uid}/").content.decode()
    assert 'href="/articles/' in page and "Release notes" in page and "bob" in page
    assert 'href="/r/1/"' in page and "In reply to" in page
    assert "bob replied" in logged_in.get(f"/inbox/{root.uid}/").content.decode()


# -- Query counts: constant whatever the inbox size ----------------------------------------


@pytest.mark.parametrize("size", [10, 500])
def test_query_counts_do_not_grow(logged_in, alice, bob, size, warm_content_types, django_assert_num_queries):
    User.objects.create(username="other")
    notes = [notifier.send(f"n{i}", alice, actor=bob)[0] for i in range(size)]
    logged_in.get(LIST)  # warm the session
    # session, user, stats (badge, tabs, counts), rows of the page, their actors (one per actor
    # model, for the avatars), preview rows
    with django_assert_num_queries(6):
        assert logged_in.get(LIST).status_code == 200
    # fragments: session, user, stats, rows of the page (none match: no actors to fetch)
    with django_assert_num_queries(4):
        assert logged_in.get(f"{LIST}?status=unread&category=x&q=n", **HTMX).status_code == 200
    # session, user, stats, rows of the page, their actors
    with django_assert_num_queries(5):
        assert logged_in.get(f"{LIST}?page=2" if size > 25 else LIST, **HTMX).status_code == 200
    # session, user, notification, stats, replies, newer, older, preview rows, actor (bob), muted?
    with django_assert_num_queries(10):
        assert logged_in.get(f"/inbox/{notes[size // 2].uid}/").status_code == 200
    with django_assert_num_queries(3):
        assert logged_in.get("/inbox/badge/").status_code == 200


# -- Escaping ----------------------------------------------------------------------------------

EVIL_NAME = "<script>alert(1)</script>"
EVIL_EXTRA = '<img src=x onerror="alert(2)">'


def test_message_text_is_escaped_everywhere(logged_in, alice):
    evil = User.objects.create(username="mallory", first_name=EVIL_NAME)
    [note] = notifier.send("{actor.first_name} says {html}", alice, actor=evil, extra={"html": EVIL_EXTRA})
    pages = {
        "list": logged_in.get(LIST).content.decode(),
        "detail": logged_in.get(f"/inbox/{note.uid}/").content.decode(),
        "preview": logged_in.get("/inbox/preview/").content.decode(),
        "htmx": logged_in.post("/inbox/bulk/", {"action": "read", "uid": [str(note.uid)]}, **HTMX).content.decode(),
    }
    for name, html in pages.items():
        assert "<script>alert(1)" not in html, name
        assert "<img src=x" not in html, name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["list"]
    assert "&lt;img src=x onerror=" in pages["detail"]


def test_toast_text_is_escaped(rf, alice):
    from inbox.views import render_toast

    html = render_toast(rf.get("/"), EVIL_NAME)
    assert "<script>" not in html and "&lt;script&gt;" in html
