"""The "Changes" section of inbox.contrib.rules on the detail page: seed 002's changed_data as a
readable diff, escaped, in words as well as colours, and only where there is changed data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inbox import sections
from inbox.contrib.rules import sections as changes
from inbox.models import Notification
from inbox.services import notifier

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    """The section as the rules app's ready() registers it (registering twice keeps one)."""
    changes.register_changes()
    yield


def change(user: User, changed_data: Any, *, method: str = "update", model: str = "auth.user",
           instance: Any = None, message: str = "Something changed") -> Notification:
    extra = {"model": model, "instance": instance if instance is not None else {"pk": 1, "repr": "alice"},
             "method": method, "changed_data": changed_data}
    [sent] = notifier.send(message, user, extra=extra)
    return sent


def detail(client: Client, notification: Notification) -> str:
    response = client.get(reverse("inbox:detail", args=[notification.uid]))
    assert response.status_code == 200
    return response.content.decode()


def section_html(page: str) -> str:
    found = re.search(r'<section class="inbox-changes".*?</section>', page, re.S)
    assert found, "no Changes section on the page"
    return found.group(0)


def test_an_update_shows_each_field_with_its_label_old_struck_and_new(alice_client: Client, alice: User) -> None:
    sent = change(alice, {"first_name": ["Al", "Alice"], "is_active": [True, False]},
                  instance={"pk": alice.pk, "repr": "alice"})
    html = section_html(detail(alice_client, sent))
    assert "Updated" in html and "User" in html and "<strong class=\"inbox-changes__instance\">alice</strong>" in html
    # The model field's verbose_name, not the attribute name; booleans in words.
    assert '<dt class="inbox-changes__field">First name</dt>' in html
    assert '<dt class="inbox-changes__field">Active</dt>' in html
    assert re.search(r'<del class="inbox-changes__old"><span class="inbox-visually-hidden">Before: </span>Al</del>', html)
    assert re.search(r'<ins class="inbox-changes__new"><span class="inbox-visually-hidden">After: </span>Alice</ins>', html)
    assert ">Yes</del>" in html and ">No</ins>" in html


def test_choices_show_their_labels_and_empty_values_say_so(alice_client: Client, alice: User) -> None:
    sent = change(alice, {"level": [20, 40], "category": ["", "billing"]}, model="inbox.notification")
    html = section_html(detail(alice_client, sent))
    assert ">info</del>" in html and ">error</ins>" in html  # Level's labels, not 20 and 40
    assert re.search(r'<del class="inbox-changes__old is-empty">.*?empty</del>', html)


def test_a_creation_shows_only_the_new_values_and_a_deletion_only_the_old(alice_client: Client, alice: User) -> None:
    created = section_html(detail(alice_client, change(alice, {"first_name": [None, "Alice"]}, method="create")))
    assert "Created" in created and "Set to: </span>Alice</ins>" in created
    assert "<del" not in created and "Before:" not in created

    deleted = section_html(detail(alice_client, change(alice, {"first_name": ["Alice", None]}, method="delete")))
    assert "Deleted" in deleted and "Was: </span>Alice</del>" in deleted
    assert "<ins" not in deleted and "After:" not in deleted


def test_hostile_values_names_and_reprs_are_escaped(alice_client: Client, alice: User) -> None:
    sent = change(
        alice,
        {HOSTILE: [HOSTILE, {"k": HOSTILE}], "first_name": [[HOSTILE, 1], HOSTILE]},
        model=HOSTILE,
        instance={"pk": HOSTILE, "repr": HOSTILE},
        method=HOSTILE,
    )
    page = detail(alice_client, sent)
    html = section_html(page)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "Updated" in html  # an unknown method reads as an update, never as markup or a class name
    assert HOSTILE not in html


def test_nothing_for_notifications_without_changed_data(alice_client: Client, alice: User) -> None:
    [plain] = notifier.send("Plain", alice)
    [other_extra] = notifier.send("Other {n}", alice, extra={"n": 1, "method": "update"})
    empty = change(alice, {})
    not_a_mapping = change(alice, "status went from a to b")
    for notification in (plain, other_extra, empty, not_a_mapping):
        assert "inbox-changes" not in detail(alice_client, notification)
        assert sections.render(None, notification).html == []  # type: ignore[arg-type]


def test_odd_shapes_still_render(alice_client: Client, alice: User) -> None:
    """Rows written by hand or by an older version: a lone value, a model since removed, a long text."""
    sent = change(alice, {"status": "done", "notes": ["a" * 5000, "b"], "due": ["2026-01-02", None]},
                  model="gone.model", instance="not a mapping")
    html = section_html(detail(alice_client, sent))
    assert '<dt class="inbox-changes__field">Status</dt>' in html and "After: </span>done</ins>" in html
    assert "a" * 999 + "…" in html and "a" * 1001 not in html
    assert "inbox-changes__instance" not in html


def test_many_fields_are_cut_with_a_count(alice_client: Client, alice: User) -> None:
    sent = change(alice, {f"field_{i}": [i, i + 1] for i in range(changes.MAX_FIELDS + 3)})
    html = section_html(detail(alice_client, sent))
    assert html.count('class="inbox-changes__row"') == changes.MAX_FIELDS
    assert "And 3 more fields." in html


def test_dates_read_in_the_sites_format(alice_client: Client, alice: User) -> None:
    sent = change(alice, {"date_joined": ["2026-01-02T09:30:00+00:00", "not a date"]})
    html = section_html(detail(alice_client, sent))
    assert "Before: </span>Jan. 2, 2026, 9:30 a.m.</del>" in html
    assert "After: </span>not a date</ins>" in html


def test_foreign_keys_show_the_objects_they_name(alice_client: Client, alice: User, bob: User,
                                                 django_assert_num_queries: Any) -> None:
    sent = change(alice, {"owner": [alice.pk, bob.pk], "title": ["a", "b"]}, model="testapp.document")
    html = section_html(detail(alice_client, sent))
    assert '<dt class="inbox-changes__field">Owner</dt>' in html
    assert "Before: </span>alice</del>" in html and "After: </span>bob</ins>" in html
    gone = change(alice, {"owner": [99999, "not-a-key"]}, model="testapp.document")
    html = section_html(detail(alice_client, gone))
    assert "Before: </span>99999</del>" in html and "After: </span>not-a-key</ins>" in html  # as stored


def test_the_page_scopes_it_another_users_notification_is_a_404(alice: User, bob: User) -> None:
    sent = change(alice, {"first_name": ["Secret old", "Secret new"]})
    bob_client = Client()
    bob_client.force_login(bob)
    response = bob_client.get(reverse("inbox:detail", args=[sent.uid]))
    assert response.status_code == 404
    assert b"Secret" not in response.content and b"inbox-changes" not in response.content


def test_the_section_adds_no_query_but_one_per_foreign_key(alice_client: Client, alice: User,
                                                            django_assert_num_queries: Any) -> None:
    [plain] = notifier.send("Plain", alice)
    with_changes = change(alice, {"first_name": ["Al", "Alice"], "level": [20, 40]})
    with_owner = change(alice, {"owner": [alice.pk, None], "title": ["a", "b"]}, model="testapp.document")
    for notification in (plain, with_changes, with_owner):
        detail(alice_client, notification)  # each read once: caches (content types, sessions) warm
    with CaptureQueriesContext(connection) as baseline:
        detail(alice_client, plain)
    queries = len(baseline.captured_queries)  # now: the next request empties the log
    assert queries > 0
    with django_assert_num_queries(queries):
        detail(alice_client, with_changes)
    with django_assert_num_queries(queries + 1):  # the owners' names, in one query
        detail(alice_client, with_owner)
