from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from inbox.models import Notification, Stats
from inbox.services import manager, notifier
from tests.helpers import assert_stats_match_recount

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_collect_stats_all_and_one(alice, bob):
    notifier.send("x", [alice, bob])
    Stats.objects.update(unread=9)
    assert "for 1 recipient" in run("inbox_collect_stats", "--recipient", f"auth.user:{alice.pk}")
    assert Stats.objects.recipients([alice]).get().unread == 1
    assert Stats.objects.recipients([bob]).get().unread == 9
    assert "for 2 recipient" in run("inbox_collect_stats")
    assert_stats_match_recount()


def test_collect_stats_rejects_bad_recipient():
    with pytest.raises(CommandError):
        run("inbox_collect_stats", "--recipient", "auth.user")
    with pytest.raises(CommandError):
        run("inbox_collect_stats", "--recipient", "nope.model:1")


def test_clear_filters(alice, bob):
    old = timezone.now() - timedelta(days=40)
    notifier.send("old", [alice, bob], now=old)
    notifier.send("new", [alice, bob])
    manager.mark_read(Notification.objects.filter(message="new").recipients([alice]))
    assert "Would delete 2" in run("inbox_clear", "--older-than", "30", "--dry-run")
    assert "Deleted 1" in run("inbox_clear", "--read-only", "--recipient", f"auth.user:{alice.pk}")
    assert "Deleted 2" in run("inbox_clear", "--older-than", "30")
    assert list(Notification.objects.values_list("message", flat=True)) == ["new"]
    assert_stats_match_recount()


def test_clear_expired(alice):
    [gone] = notifier.send("gone", alice)
    notifier.send("kept", alice)
    Notification.objects.filter(pk=gone.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "Deleted 1" in run("inbox_clear", "--expired")
    assert Stats.objects.recipients([alice]).get().total == 1


def test_clear_refuses_without_a_filter(alice):
    notifier.send("x", alice)
    with pytest.raises(CommandError, match="--all"):
        run("inbox_clear")
    with pytest.raises(CommandError):
        run("inbox_clear", "--older-than", "-1")
    assert "Deleted 1" in run("inbox_clear", "--all")


def test_publish_due(alice):
    notifier.send("due", alice, send_at=timezone.now() - timedelta(seconds=1), now=timezone.now() - timedelta(minutes=1))
    notifier.send("later", alice, send_at=timezone.now() + timedelta(days=1))
    assert Stats.objects.recipients([alice]).get().total == 0
    assert "Published 1" in run("inbox_publish_due", "--batch-size", "1")
    assert "Published 0" in run("inbox_publish_due")
    assert Stats.objects.recipients([alice]).get().total == 1
    assert_stats_match_recount()
