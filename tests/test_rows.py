"""The list's rows: inbox.rows.RowRenderer writes the same HTML as the ``row`` partial.

The kit's own inbox.html renders its rows in Python ({% inbox_rows %}); a site's copy of the
template renders its ``row`` partial. Each test here renders the same inbox both ways (the second
through a byte-for-byte copy of the kit's template in a site template directory) and compares
the pages, so the partial stays the description of a row and the fast path cannot drift from it.
"""

from __future__ import annotations

import copy
import datetime
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django_tables2 as tables
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

import inbox
from inbox import categories
from inbox.models import Level, Notification
from inbox.services import manager, notifier
from inbox.tables import NotificationTable

pytestmark = pytest.mark.django_db

KIT_TEMPLATES = Path(inbox.__file__).resolve().parent / "templates"
EVIL = "<script>alert(1)</script>"


class TableWithSeenColumn(NotificationTable):
    """A site's table: one more column, with its own render method."""

    seen = tables.Column(verbose_name="Seen <by>", accessor="seen_at", orderable=False)

    def render_seen(self, value: Any) -> str:
        return f"seen {value:%Y} & <more>"


def templates_with(site_dir: Path) -> list[dict[str, Any]]:
    """The test settings' template engine, with a site template directory in front of the apps'."""
    engine = copy.deepcopy(settings.TEMPLATES[0])
    engine["DIRS"] = [str(site_dir)]
    return [engine]


def normalised(html: bytes) -> str:
    """Whitespace collapsed (as a browser shows it) and the per-request CSRF token blanked."""
    text = re.sub(r"\s+", " ", html.decode())
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken"', text)


def rows_of(page: str) -> list[str]:
    return re.findall(r'<li id="inbox-row-.*?</li>', page)


@pytest.fixture
def client_of_alice(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def odd_category() -> Iterator[categories.Category]:
    """A declared category whose label needs escaping, with an icon of its own."""
    category = categories.register(categories.Category("q-and-a", label="Q&A <beta>", icon="star"))
    yield category
    categories.registry.unregister(category.slug)


@pytest.fixture
def varied_inbox(alice: User, bob: User, odd_category: categories.Category) -> list[Notification]:
    """Every kind of row the list draws: read, starred, archived, snoozed, grouped, categorised,
    warning and error, with and without an actor, with hostile text."""
    evil = User.objects.create(username="mallory", first_name=EVIL)
    now = timezone.now()
    made = [
        notifier.send("plain from bob", alice, actor=bob)[0],
        notifier.send("{actor.first_name} says [b]hi[/b] <b>", alice, actor=evil, category="comments")[0],
        notifier.send(EVIL + " & friends", alice, category="security", level=Level.ERROR)[0],
        notifier.send("a warning", alice, actor=bob, level=Level.WARNING, category="billing-run")[0],
        notifier.send("long " * 40, alice, actor=bob, now=now - datetime.timedelta(days=1))[0],
        notifier.send("last week", alice, now=now - datetime.timedelta(days=9), category=odd_category.slug)[0],
        notifier.send("last year", alice, actor=bob, now=now - datetime.timedelta(days=400))[0],
        notifier.send("asked", alice, actor=bob, category=odd_category.slug, level=Level.SUCCESS)[0],
    ]
    manager.mark_read(Notification.objects.filter(pk__in=[made[0].pk, made[3].pk]))
    manager.star(Notification.objects.filter(pk__in=[made[1].pk, made[3].pk]))
    manager.archive(Notification.objects.filter(pk=made[5].pk))
    Notification.objects.filter(pk=made[4].pk).update(group_size=1234, group_actors=3)
    Notification.objects.filter(pk=made[2].pk).update(group_size=2, group_actors=1)
    snoozed = notifier.send("snoozed one", alice, actor=bob, category="comments")[0]
    manager.snooze(Notification.objects.filter(pk=snoozed.pk), now + datetime.timedelta(days=2))
    return [*made, snoozed]


PAGES = ["/inbox/", "/inbox/?status=everything", "/inbox/?status=snoozed", "/inbox/?status=archived",
         "/inbox/?status=starred&sort=level", "/inbox/?q=a&category=comments&status=everything"]


def pages(client: Client) -> dict[str, str]:
    return {path: normalised(client.get(path).content) for path in PAGES}


def test_the_fast_rows_are_the_row_partial(client_of_alice: Client, varied_inbox: list[Notification],
                                           tmp_path: Path) -> None:
    fast = pages(client_of_alice)
    # A site's copy of the kit's template: {% inbox_rows %} renders its row partial for each row.
    (tmp_path / "inbox").mkdir()
    shutil.copy(KIT_TEMPLATES / "inbox" / "inbox.html", tmp_path / "inbox" / "inbox.html")
    with override_settings(TEMPLATES=templates_with(tmp_path)):
        partial = pages(client_of_alice)
    everything = rows_of(fast["/inbox/?status=everything"])
    assert len(everything) == len(varied_inbox) - 1  # all but the snoozed one
    assert len(rows_of(fast["/inbox/?status=snoozed"])) == 1
    for path in PAGES:
        assert rows_of(fast[path]), path
        assert fast[path] == partial[path], path
    page = fast["/inbox/?status=everything"]
    # The kinds of row are all there, and hostile text is text.
    for marker in ("is-unread", "is-starred", "is-group", "inbox-level--error", "inbox-level--warning",
                   "inbox-chip inbox-chip--static", "inbox-avatar--icon", "inbox-avatar-wrap", "1234"):
        assert marker in page, marker
    assert "Q&amp;A &lt;beta&gt;</span>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in page
    assert "is-snoozed" in fast["/inbox/?status=snoozed"] and "inbox-row__time--until" in fast["/inbox/?status=snoozed"]


def test_htmx_results_fragment_matches_too(client_of_alice: Client, varied_inbox: list[Notification],
                                           tmp_path: Path) -> None:
    htmx = {"HX-Request": "true", "HX-Target": "inbox-results"}
    fast = normalised(client_of_alice.get("/inbox/?status=everything", headers=htmx).content)
    (tmp_path / "inbox").mkdir()
    shutil.copy(KIT_TEMPLATES / "inbox" / "inbox.html", tmp_path / "inbox" / "inbox.html")
    with override_settings(TEMPLATES=templates_with(tmp_path)):
        partial = normalised(client_of_alice.get("/inbox/?status=everything", headers=htmx).content)
    assert len(rows_of(fast)) == len(varied_inbox) - 1
    assert fast == partial


def test_a_site_table_column_shows_in_both_paths(client_of_alice: Client, varied_inbox: list[Notification],
                                                 tmp_path: Path) -> None:
    table = f"{__name__}.TableWithSeenColumn"
    with override_settings(INBOX={"TABLE_CLASS": table}):
        fast = pages(client_of_alice)
    (tmp_path / "inbox").mkdir()
    shutil.copy(KIT_TEMPLATES / "inbox" / "inbox.html", tmp_path / "inbox" / "inbox.html")
    with override_settings(INBOX={"TABLE_CLASS": table}, TEMPLATES=templates_with(tmp_path)):
        partial = pages(client_of_alice)
    year = timezone.now().year
    page = fast["/inbox/?status=everything"]
    # Seen rows (read ones are seen) get the column's own render; unseen ones its default ("—").
    assert (f'<span class="inbox-row__extra inbox-cell--seen"><span class="inbox-visually-hidden">Seen &lt;by&gt;: '
            f'</span>seen {year} &amp; &lt;more&gt;</span>') in page
    assert '<span class="inbox-visually-hidden">Seen &lt;by&gt;: </span>—</span>' in page
    for path in PAGES:
        assert fast[path] == partial[path], path


def test_a_site_row_partial_is_used(client_of_alice: Client, varied_inbox: list[Notification],
                                    tmp_path: Path) -> None:
    source = (KIT_TEMPLATES / "inbox" / "inbox.html").read_text()
    marked = source.replace('data-inbox-row tabindex="-1"', 'data-inbox-row data-site-row tabindex="-1"')
    assert marked != source
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "inbox.html").write_text(marked)
    with override_settings(TEMPLATES=templates_with(tmp_path)):
        page = normalised(client_of_alice.get("/inbox/?status=everything").content)
    assert page.count("data-site-row") == len(rows_of(page)) == len(varied_inbox) - 1


def test_a_site_avatar_partial_is_used_by_the_fast_rows(client_of_alice: Client, varied_inbox: list[Notification],
                                                        tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "avatar.html").write_text(
        "{% load partials %}{% partialdef avatar %}<b class=\"site-avatar\">{{ actor.username|default:'none' }}"
        " {{ notification.message|truncatechars:4 }} {{ request.user.username }}</b>{% endpartialdef %}"
    )
    with override_settings(TEMPLATES=templates_with(tmp_path)):
        page = normalised(client_of_alice.get("/inbox/?status=everything").content)
    rows = rows_of(page)
    assert len(rows) == len(varied_inbox) - 1
    assert all('class="site-avatar"' in row and "alice</b>" in row for row in rows)
    # The row's own notification and actor, the page's context (request), and escaping as usual.
    assert '<b class="site-avatar">mallory &lt;sc… alice</b>' in page
    assert '<b class="site-avatar">bob pla… alice</b>' in page
    assert "inbox-avatar-wrap" not in page
