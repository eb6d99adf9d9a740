"""Issue 11 in the inbox pages: snooze (row, detail, bulk, the Snoozed tab), mute a thread from
the detail page, and grouped rows ("Alice and 4 others") with their detail list."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox.models import GroupedItem, Mute, Notification, Stats
from inbox.services import manager, notifier

pytestmark = pytest.mark.django_db

LIST = "/inbox/"
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-results"}
DETAIL_HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-detail"}
#: A reader far from UTC, with a DST change: every preset is worked out in this zone.
READER_TZ = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture
def logged_in(client: Client, alice: User) -> Client:
    client.force_login(alice)
    client.raise_request_exception = False
    return client


@pytest.fixture
def reader_tz() -> Iterator[zoneinfo.ZoneInfo]:
    """The active timezone of the requests (the test client runs views in this thread)."""
    with timezone.override(READER_TZ):
        yield READER_TZ


def action_url(note: Notification) -> str:
    return f"/inbox/{note.uid}/action/"


def fresh(note: Notification) -> Notification:
    return Notification.objects.get(pk=note.pk)


def unread(user: User) -> int:
    row = Stats.objects.recipients([user]).first()
    return row.unread if row else 0


def local_nine(days_ahead: int) -> datetime.datetime:
    today = timezone.localtime(timezone.now(), READER_TZ).date()
    return datetime.datetime.combine(today + datetime.timedelta(days=days_ahead), datetime.time(9), READER_TZ)


# -- Snooze from a row and from the detail page ---------------------------------------------------


@pytest.mark.parametrize("preset", ["1h", "tomorrow", "next-week"])
def test_snooze_a_row_with_each_preset_in_the_readers_timezone(
        logged_in: Client, alice: User, reader_tz: Any, preset: str) -> None:
    [note, other] = [notifier.send(f"note {i}", alice)[0] for i in range(2)]
    before = timezone.now()
    # htmx sends the action with the preset; the list comes back without the row.
    response = logged_in.post(action_url(note), {"action": "snooze", "until": preset, "next": "list"}, **HTMX)
    after = timezone.now()
    assert response.status_code == 200, response.content
    note = fresh(note)
    assert not note.is_published and note.snoozed_until == note.sent_at
    local = timezone.localtime(note.snoozed_until, READER_TZ)
    if preset == "1h":
        assert before + datetime.timedelta(hours=1) <= note.snoozed_until <= after + datetime.timedelta(hours=1)
    elif preset == "tomorrow":
        assert note.snoozed_until == local_nine(1)
    else:
        assert local.weekday() == 0 and local.time() == datetime.time(9)
        assert 1 <= (local.date() - timezone.localtime(before, READER_TZ).date()).days <= 7
    html = response.content.decode()
    assert f"inbox-row-{note.uid}" not in html and f"inbox-row-{other.uid}" in html
    assert "Snoozed until " in html and "inbox:changed" in response["HX-Trigger"]
    assert unread(alice) == 1


def test_the_toast_says_when_in_the_readers_words(logged_in: Client, alice: User, reader_tz: Any) -> None:
    [note] = notifier.send("note", alice)
    response = logged_in.post(action_url(note), {"action": "snooze", "until": "tomorrow", "next": "list"}, **HTMX)
    assert "Snoozed until tomorrow 9:00." in response.content.decode()


def test_a_row_preset_without_javascript_sends_until_alone(logged_in: Client, alice: User, reader_tz: Any) -> None:
    """A button sends one name: the row's preset buttons post ``until`` and the action is implied."""
    [note] = notifier.send("note", alice)
    response = logged_in.post(action_url(note), {"until": "tomorrow", "next": "list", "status": "unread"})
    assert response.status_code == 303 and response["Location"] == "/inbox/?status=unread"
    assert fresh(note).snoozed_until == local_nine(1)
    assert "Snoozed until tomorrow 9:00." in logged_in.get(response["Location"]).content.decode()


def test_a_picked_time_is_read_in_the_readers_timezone(logged_in: Client, alice: User, reader_tz: Any) -> None:
    [note, other] = [notifier.send(f"note {i}", alice)[0] for i in range(2)]
    day = timezone.localtime(timezone.now(), READER_TZ).date() + datetime.timedelta(days=3)
    picked = f"{day.isoformat()}T14:30"
    # The detail page's picker is a form of its own: until=<datetime-local>.
    response = logged_in.post(action_url(note), {"action": "snooze", "until": picked, "next": "detail"})
    assert response.status_code == 303 and response["Location"] == f"/inbox/{note.uid}/"
    expected = datetime.datetime.combine(day, datetime.time(14, 30), READER_TZ)
    assert fresh(note).snoozed_until == expected
    # The rows' pickers share the list's form as until_at: the one filled in counts.
    response = logged_in.post(action_url(other), {"action": "snooze", "until_at": ["", picked, ""], "next": "list"})
    assert response.status_code == 303 and fresh(other).snoozed_until == expected


def test_snooze_from_the_detail_page_with_htmx_shows_it_snoozed(logged_in: Client, alice: User, reader_tz: Any) -> None:
    [note] = notifier.send("note", alice)
    response = logged_in.post(action_url(note), {"action": "snooze", "until": "1h", "next": "detail"}, **DETAIL_HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<article id="inbox-detail"')
    assert "Snoozed until " in html and 'value="unsnooze"' in html and 'value="archive"' not in html
    # The page itself opens from the Snoozed tab, and opening it does not mark it read.
    page = logged_in.get(f"/inbox/{note.uid}/")
    assert page.status_code == 200 and b'hx-trigger="load, submit"' not in page.content
    opened = logged_in.post(f"/inbox/{note.uid}/")
    assert opened.status_code == 303 and fresh(note).read_at is None


@pytest.mark.parametrize("until, words", [
    ("", "Choose when to snooze until."),
    ("soon", "Enter a valid date and time."),
    ("2020-01-01T09:00", "Choose a time in the future."),
    ("2999-01-01T09:00", "Choose a time within a year."),
    ("2024-02-30T09:00", "Enter a valid date and time."),
    ("9" * 39, "Enter a valid date and time."),
    ("1h\x00", "Null characters are not allowed."),
])
def test_a_bad_time_is_a_400_and_changes_nothing(logged_in: Client, alice: User, reader_tz: Any,
                                                 until: str, words: str) -> None:
    [note] = notifier.send("note", alice)
    for data, extra in (({"action": "snooze", "until": until, "next": "detail"}, {}),
                        ({"action": "snooze", "until": until, "next": "list"}, HTMX),
                        ({"action": "snooze", "until": until, "uid": str(note.uid)}, {})):
        url = "/inbox/bulk/" if "uid" in data else action_url(note)
        response = logged_in.post(url, data, **extra)
        assert response.status_code == 400, (data, response.content)
        assert words in response.content.decode()
    note = fresh(note)
    assert note.is_published and note.snoozed_until is None and unread(alice) == 1


def test_two_different_picked_times_are_refused(logged_in: Client, alice: User, reader_tz: Any) -> None:
    [note] = notifier.send("note", alice)
    day = (timezone.localtime(timezone.now(), READER_TZ) + datetime.timedelta(days=2)).date().isoformat()
    response = logged_in.post(action_url(note), {"action": "snooze", "next": "list",
                                                 "until_at": [f"{day}T09:00", f"{day}T10:00"]})
    assert response.status_code == 400 and fresh(note).is_published


def test_snooze_is_scoped_post_only_and_checks_csrf(logged_in: Client, alice: User, bob: User, reader_tz: Any) -> None:
    [theirs] = notifier.send("theirs", bob)
    [mine] = notifier.send("mine", alice)
    assert logged_in.post(action_url(theirs), {"action": "snooze", "until": "1h"}).status_code == 404
    assert fresh(theirs).is_published
    # In bulk another recipient's uid is ignored, never touched.
    response = logged_in.post("/inbox/bulk/", {"action": "snooze", "until": "1h", "uid": [str(theirs.uid), str(mine.uid)]})
    assert response.status_code == 303 and fresh(theirs).is_published and not fresh(mine).is_published
    assert logged_in.get(action_url(mine)).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    [other] = notifier.send("other", alice)
    assert strict.post(action_url(other), {"action": "snooze", "until": "1h"}).status_code == 403
    assert strict.post("/inbox/bulk/", {"until": "1h", "uid": str(other.uid)}).status_code == 403
    assert fresh(other).is_published


def test_bulk_snooze_with_a_preset_button(logged_in: Client, alice: User, reader_tz: Any) -> None:
    notes = [notifier.send(f"note {i}", alice)[0] for i in range(3)]
    response = logged_in.post("/inbox/bulk/", {"until": "next-week", "uid": [str(n.uid) for n in notes[:2]]}, **HTMX)
    assert response.status_code == 200
    assert "2 notifications snoozed until " in response.content.decode()
    assert [fresh(n).is_published for n in notes] == [False, False, True]
    assert unread(alice) == 1


# -- The Snoozed tab --------------------------------------------------------------------------------


def test_the_snoozed_tab_lists_only_the_requesters_snoozed_ones(
        logged_in: Client, alice: User, bob: User, reader_tz: Any) -> None:
    [mine, kept] = [notifier.send(f"mine {i}", alice)[0] for i in range(2)]
    [theirs] = notifier.send("theirs", bob)
    [scheduled] = notifier.send("later", alice, send_at=timezone.now() + datetime.timedelta(hours=2))
    until = timezone.now() + datetime.timedelta(days=2)
    manager.snooze(Notification.objects.filter(pk__in=[mine.pk, theirs.pk]), until)
    html = logged_in.get(f"{LIST}?status=snoozed").content.decode()
    assert re.findall(r'name="page_uid" value="([^"]+)"', html) == [str(mine.uid)]
    assert "Until " in html and f'datetime="{timezone.localtime(until).isoformat()}"' in html
    assert 'data-inbox-row-action="unsnooze"' in html
    assert re.findall(r'data-inbox-action="(\w+)"', html) == ["unsnooze", "delete"]
    assert re.search(r'href="/inbox/\?status=snoozed" aria-current="page"', html)
    # Every other tab hides it (and the scheduled one, as before).
    for status in ("", "unread", "read", "starred", "archived", "everything"):
        page = logged_in.get(f"{LIST}?status={status}").content.decode()
        assert str(mine.uid) not in page and str(scheduled.uid) not in page
        assert status == "read" or str(kept.uid) in page
        assert 'data-inbox-action="unsnooze"' not in page


def test_the_snoozed_tab_is_soonest_first_and_has_its_empty_state(logged_in: Client, alice: User) -> None:
    assert "Nothing snoozed." in logged_in.get(f"{LIST}?status=snoozed").content.decode()
    notes = [notifier.send(f"note {i}", alice)[0] for i in range(3)]
    now = timezone.now()
    for hours, note in zip((5, 1, 3), notes, strict=True):
        manager.snooze(Notification.objects.filter(pk=note.pk), now + datetime.timedelta(hours=hours))
    html = logged_in.get(f"{LIST}?status=snoozed").content.decode()
    assert re.findall(r'name="page_uid" value="([^"]+)"', html) == [str(notes[1].uid), str(notes[2].uid), str(notes[0].uid)]
    assert '<h2 class="inbox-group"' not in html


def test_unsnooze_from_the_tab_row_and_in_bulk(logged_in: Client, alice: User) -> None:
    notes = [notifier.send(f"note {i}", alice)[0] for i in range(3)]
    manager.snooze(Notification.objects.filter(pk__in=[n.pk for n in notes]), timezone.now() + datetime.timedelta(days=1))
    assert unread(alice) == 0
    response = logged_in.post(action_url(notes[0]), {"action": "unsnooze", "next": "list", "status": "snoozed"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "1 notification is back in the inbox." in html
    assert f"inbox-row-{notes[0].uid}" not in html and f"inbox-row-{notes[1].uid}" in html
    back = fresh(notes[0])
    assert back.is_published and back.read_at is None and back.snoozed_until is None
    response = logged_in.post("/inbox/bulk/", {"action": "unsnooze", "status": "snoozed", "scope": "matching"})
    assert response.status_code == 303 and response["Location"] == "/inbox/?status=snoozed"
    assert all(fresh(n).is_published for n in notes) and unread(alice) == 3


def test_delete_from_the_snoozed_tab(logged_in: Client, alice: User) -> None:
    [note] = notifier.send("note", alice)
    manager.snooze(Notification.objects.filter(pk=note.pk), timezone.now() + datetime.timedelta(days=1))
    ask = logged_in.post("/inbox/bulk/", {"action": "delete", "status": "snoozed", "uid": str(note.uid)})
    assert ask.status_code == 200 and b'role="alertdialog"' in ask.content
    done = logged_in.post("/inbox/bulk/", {"action": "delete", "status": "snoozed", "uid": str(note.uid), "confirm": "1"})
    assert done.status_code == 303 and not Notification.objects.exists()


def test_a_flag_action_on_a_snoozed_row_changes_nothing(logged_in: Client, alice: User) -> None:
    [note] = notifier.send("note", alice)
    manager.snooze(Notification.objects.filter(pk=note.pk), timezone.now() + datetime.timedelta(days=1))
    response = logged_in.post(action_url(note), {"action": "star", "next": "list"})
    assert response.status_code == 303 and fresh(note).starred_at is None


# -- Mute ------------------------------------------------------------------------------------------------


def test_mute_and_unmute_from_the_detail_page(logged_in: Client, alice: User, bob: User) -> None:
    [note] = notifier.send("{actor} commented", alice, actor=bob, target=bob)
    page = logged_in.get(f"/inbox/{note.uid}/").content.decode()
    assert 'value="mute"' in page and "Mute thread" in page and "You won't be notified" not in page
    response = logged_in.post(action_url(note), {"action": "mute", "next": "detail"}, **DETAIL_HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "Thread muted." in html
    assert 'value="unmute"' in html and "Unmute thread" in html and "You won't be notified about this thread." in html
    assert manager.is_muted(alice, note) and Mute.objects.filter(recipient_id=str(alice.pk)).exists()
    # Muted: the next notification in the thread does not reach alice.
    assert notifier.send("{actor} commented again", alice, actor=bob, target=bob) == []
    plain = logged_in.post(action_url(note), {"action": "unmute", "next": "detail"})
    assert plain.status_code == 303 and plain["Location"] == f"/inbox/{note.uid}/"
    assert not manager.is_muted(alice, note)
    assert "Thread unmuted." in logged_in.get(plain["Location"]).content.decode()


def test_mute_is_scoped_and_post_only(logged_in: Client, alice: User, bob: User) -> None:
    [theirs] = notifier.send("theirs", bob, target=alice)
    assert logged_in.post(action_url(theirs), {"action": "mute", "next": "detail"}).status_code == 404
    assert not Mute.objects.exists()
    [mine] = notifier.send("mine", alice, target=bob)
    assert logged_in.get(action_url(mine)).status_code == 405
    # Mute is one notification's action: the bulk form does not take it.
    assert logged_in.post("/inbox/bulk/", {"action": "mute", "uid": str(mine.uid)}).status_code == 400
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(action_url(mine), {"action": "mute", "next": "detail"}).status_code == 403
    assert not Mute.objects.exists()


# -- Grouped rows -------------------------------------------------------------------------------------


def grouped(alice: User, senders: list[User], **kwargs: Any) -> Notification:
    for sender in senders:
        notifier.send("{actor} commented on Apollo", alice, actor=sender, group_key="apollo-comments", **kwargs)
    return Notification.objects.get(group_key="apollo-comments", recipient_id=str(alice.pk))


@pytest.fixture
def people(db: None) -> list[User]:
    return [User.objects.create_user(name) for name in ("dana", "erin", "frank", "gina", "hank")]


def test_a_grouped_row_shows_its_message_count_and_stack(logged_in: Client, alice: User, people: list[User]) -> None:
    head = grouped(alice, people)
    assert head.group_size == 5 and head.group_actors == 5
    html = logged_in.get(LIST).content.decode()
    row = html[html.index(f'id="inbox-row-{head.uid}"'):]
    row = row[:row.index("</li>")]
    assert "hank and 4 others commented on Apollo" in row
    assert re.search(r'<span class="inbox-count-pill"[^>]*><span aria-hidden="true">5</span>', row)
    assert "5 notifications in this group." in row and "inbox-row__avatar--stack" in row and "is-group" in row


def test_the_grouped_detail_lists_every_item(logged_in: Client, alice: User, people: list[User]) -> None:
    evil = User.objects.create_user("<b>mallory</b>")
    head = grouped(alice, [*people[:3], evil], url="/projects/apollo/")
    page = logged_in.get(f"/inbox/{head.uid}/").content.decode()
    section = page[page.index('class="inbox-group-items"'):]
    # The row reads "mallory and 3 others"; its detail lists each notification in its own words.
    assert "&lt;b&gt;mallory&lt;/b&gt; and 3 others commented on Apollo" in page
    messages = re.findall(r'<span class="inbox-group-item__message">(.*?)</span>', section)
    assert messages == ["&lt;b&gt;mallory&lt;/b&gt; commented on Apollo", "frank commented on Apollo",
                        "erin commented on Apollo", "dana commented on Apollo"]
    assert "<b>mallory" not in page
    assert "4 notifications in this group" in section and "earlier" not in section
    assert section.count('href="/projects/apollo/"') == 4


def test_the_grouped_detail_is_bounded_and_says_how_many_more(logged_in: Client, alice: User, people: list[User]) -> None:
    head = grouped(alice, people[:2])
    # 61 items: the page lists 50 and counts the rest from group_size (no COUNT(*)).
    GroupedItem.objects.bulk_create(GroupedItem(head=head, message=f"old {i}", sent_at=timezone.now()
                                                - datetime.timedelta(hours=i + 1)) for i in range(59))
    Notification.objects.filter(pk=head.pk).update(group_size=61)
    assert GroupedItem.objects.filter(head=head).count() == 61
    with CaptureQueriesContext(connection) as queries:
        page = logged_in.get(f"/inbox/{head.uid}/").content.decode()
    assert page.count('class="inbox-group-item"') + page.count('class="inbox-group-item is-current"') == 50
    assert "and 11 earlier" in page
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_grouped_rows_cost_no_query_per_row(
        logged_in: Client, alice: User, people: list[User], warm_content_types: None,
        django_assert_num_queries: Any) -> None:
    for index in range(8):
        notifier.send(f"single {index}", alice, actor=people[0])
    logged_in.get(LIST)
    with CaptureQueriesContext(connection) as plain:
        assert logged_in.get(LIST).status_code == 200
    for index in range(6):
        for sender in people:
            notifier.send("{actor} commented", alice, actor=sender, group_key=f"group-{index}")
    with django_assert_num_queries(len(plain.captured_queries)):
        assert logged_in.get(LIST).status_code == 200


def test_the_header_links_to_notification_settings(logged_in: Client) -> None:
    html = logged_in.get(LIST).content.decode()
    assert re.search(r'<a [^>]*href="/inbox/preferences/"[^>]*title="Notification settings"', html)
