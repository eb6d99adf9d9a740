"""A site whose routers put the inbox's tables in a database of their own: every write goes there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.checks import Error
from django.test import override_settings

from inbox import checks, stats
from inbox.models import Notification, Stats
from inbox.services import manager, notifier


class InboxRouter:
    """The inbox app lives in "other"; everything else stays in "default"."""

    def db_for_read(self, model, **hints):
        return "other" if model._meta.app_label == "inbox" else None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True


class SplitRouter(InboxRouter):
    """A misconfiguration: Stats elsewhere than the notifications they count."""

    def db_for_read(self, model, **hints):
        return "other" if model is Notification else None

    db_for_write = db_for_read


pytestmark = pytest.mark.django_db(databases=["default", "other"])


@override_settings(DATABASE_ROUTERS=[InboxRouter()])
@pytest.mark.parametrize("by_query", [False, True])
def test_send_change_and_delete_write_to_the_routed_database(by_query):
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    recipients = User.objects.all() if by_query else [alice, bob]
    sent = notifier.send("routed", recipients)
    assert len(sent) == 2
    assert Notification.objects.using("other").count() == 2
    assert not Notification.objects.using("default").exists()
    assert Stats.objects.using("other").get(recipient_id=str(alice.pk)).unread == 1
    assert not Stats.objects.using("default").exists()
    assert stats.counts_for([alice]).unread == 1

    assert manager.mark_all_read(alice) == 1
    assert stats.counts_for([alice]).unread == 0
    assert manager.delete(Notification.objects.recipients([bob])) == 1
    assert Stats.objects.using("other").get(recipient_id=str(bob.pk)).total == 0
    assert not Notification.objects.using("default").exists()
    assert manager.collect_stats() >= 1
    assert stats.counts_for([alice]).total == 1


def test_a_split_routing_is_a_system_check_error():
    with override_settings(DATABASE_ROUTERS=[SplitRouter()]):
        problems = checks.check_database(databases=["default", "other"])
    assert [problem.id for problem in problems if isinstance(problem, Error)] == ["inbox.E020"]
    assert checks.check_database(databases=["default"]) == []
