from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.template import Context, Template
from django.test import RequestFactory

from inbox import stats
from inbox.services import manager, notifier

pytestmark = pytest.mark.django_db


def render(user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load inbox %}{% inbox_stats as c %}{{ c.unread }}/{{ c.total }}").render(
        Context({"request": request})
    )


def test_inbox_stats_for_the_requesting_user(alice, bob, warm_content_types, django_assert_num_queries):
    notifier.send("a", [alice, bob])
    notifier.send("b", alice)
    manager.mark_all_read(bob)
    with django_assert_num_queries(1):
        assert render(alice) == "2/2"
    assert render(bob) == "0/1"
    assert render(AnonymousUser()) == "0/0"


def test_counts_for_a_shared_inbox_sum_recipients(alice, bob):
    notifier.send("a", [alice, bob])
    assert stats.counts_for([alice, bob]).unread == 2
    assert stats.counts_for([]) == stats.Counts()


def render_tag(source: str, user, **context) -> str:
    request = RequestFactory().get("/")
    request.user = user
    request.session = {}
    from django.contrib.messages.storage.fallback import FallbackStorage

    request._messages = FallbackStorage(request)
    for level, text, tags in context.pop("messages", []):
        request._messages.add(level, text, extra_tags=tags)
    return Template("{% load inbox %}" + source).render(Context({"request": request, **context}))


def test_badge_label_count_and_overflow(alice, bob):
    from django.contrib.auth.models import AnonymousUser

    html = render_tag("{% notification_badge %}", alice)
    assert 'aria-label="No unread notifications"' in html and " hidden>" in html
    notifier.send("one", alice)
    assert 'aria-label="1 unread notification"' in render_tag("{% notification_badge %}", alice)
    notifier.send("many", User.objects.filter(pk=alice.pk))
    for _ in range(100):
        notifier.send("more", User.objects.filter(pk=alice.pk))
    html = render_tag("{% notification_badge %}", alice)
    assert 'aria-label="102 unread notifications"' in html and ">99+<" in html
    assert render_tag("{% notification_badge %}", AnonymousUser()).strip() == ""


def test_toasts_show_the_kits_messages(alice):
    from django.contrib.messages import constants

    html = render_tag(
        "{% notification_toasts %}", alice,
        messages=[(constants.SUCCESS, "3 marked read", "inbox"), (constants.INFO, "site message", "")],
    )
    assert 'aria-live="polite"' in html and "3 marked read" in html and "site message" not in html
    html = render_tag("{% notification_toasts all_messages=True %}", alice, messages=[(constants.INFO, "site message", "")])
    assert "site message" in html


def test_preview_lists_newest_with_actions(alice):
    for i in range(7):
        notifier.send(f"p{i}", alice)
    html = render_tag("{% notification_preview limit=3 %}", alice)
    # Each message as its button shows it: a bare "p3" could turn up inside the random CSRF token.
    shown = [f"p{i}" for i in range(7) if f">p{i}</button>" in html]
    assert html.count('class="inbox-open"') == 3 and shown == ["p4", "p5", "p6"]
    assert "/inbox/mark-all-read/" in html and 'href="/inbox/"' in html


def test_inbox_head_loads_css_htmx_sse_and_kit_js_with_nonce(alice):
    html = render_tag("{% inbox_head %}", alice, csp_nonce="n0nce")
    assert "inbox/inbox.css" in html and "htmx-2.min.js" in html and "hx-sse-2.min.js" in html
    assert "inbox/inbox.js" in html and html.count('nonce="n0nce"') >= 3


def test_ui_requirements_check(settings):
    from inbox.checks import check_ui_requirements

    assert check_ui_requirements() == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "htmx" not in m]
    assert [m.id for m in check_ui_requirements()] == ["inbox.W010"]
