from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
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
