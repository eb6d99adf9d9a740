"""Snooze: hidden and uncounted until its time, then back unread, counted and announced exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from inbox.exceptions import NotificationError
from inbox.flags import Flag
from inbox.models import Notification, Stats
from inbox.services import manager, notifier
from tests.helpers import assert_stats_match_recount

pytestmark = pytest.mark.django_db


def counts(user: User) -> tuple[int, int, int]:
    stats = Stats.objects.recipients([user]).get()
    return stats.total, stats.unread, stats.unseen


def test_snooze_hides_and_uncounts(alice, bob):
    notifier.send("keep", alice)
    [snoozed] = notifier.send("later", alice, flags=[Flag.READ, Flag.STARRED])
    notifier.send("bob's", bob)
    until = timezone.now() + timedelta(hours=2)
    assert manager.snooze(Notification.objects.filter(pk=snoozed.pk), until) == 1
    row = Notification.objects.get(pk=snoozed.pk)
    assert (row.is_published, row.sent_at, row.snoozed_until, row.read_at, row.seen_at) == (False, until, until, None, None)
    assert row.starred_at is not None
    assert list(Notification.objects.recipients([alice]).sent()) == [Notification.objects.get(message="keep")]
    assert list(Notification.objects.snoozed()) == [row]
    assert not Notification.objects.scheduled().exists()
    assert counts(alice) == (1, 1, 1)
    assert_stats_match_recount()


def test_resnooze_moves_the_time_without_counting(alice):
    [snoozed] = notifier.send("later", alice)
    first = timezone.now() + timedelta(hours=1)
    manager.snooze(Notification.objects.all(), first)
    second = first + timedelta(hours=3)
    assert manager.snooze(Notification.objects.all(), second) == 1
    row = Notification.objects.get()
    assert (row.sent_at, row.snoozed_until) == (second, second)
    assert counts(alice) == (0, 0, 0)
    assert manager.publish_due(now=first + timedelta(minutes=1)) == 0
    assert_stats_match_recount()


def test_snooze_refuses_bad_times(alice):
    notifier.send("x", alice)
    with pytest.raises(NotificationError):
        manager.snooze(Notification.objects.all(), timezone.now() - timedelta(seconds=1))
    with pytest.raises(NotificationError):
        manager.snooze(Notification.objects.all(), (timezone.now() + timedelta(hours=1)).replace(tzinfo=None))
    with pytest.raises(NotificationError):
        manager.snooze(Notification.objects.all(), "tomorrow")  # type: ignore[arg-type]
    assert Notification.objects.get().is_published


def test_publish_due_brings_it_back_unread_once(alice, broker, django_capture_on_commit_callbacks):
    [snoozed] = notifier.send("later", alice)
    manager.mark_read(Notification.objects.all())
    until = timezone.now() + timedelta(hours=1)
    with broker.subscribe([f"auth.user:{alice.pk}"]) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            manager.snooze(Notification.objects.all(), until)
        assert [event.new for event in subscription.drain()] == [()]  # a badge refresh only
        with django_capture_on_commit_callbacks(execute=True):
            assert manager.publish_due(now=until + timedelta(seconds=1)) == 1
            assert manager.publish_due(now=until + timedelta(seconds=2)) == 0
        [event] = subscription.drain()
    assert event.new == (str(snoozed.uid),)
    row = Notification.objects.get()
    assert (row.is_published, row.snoozed_until, row.read_at, row.sent_at) == (True, None, None, until)
    assert counts(alice) == (1, 1, 1)
    assert_stats_match_recount()


def test_unsnooze_wakes_now(alice, bob, broker, django_capture_on_commit_callbacks):
    notifier.send("a", [alice, bob])
    notifier.send("scheduled", alice, send_at=timezone.now() + timedelta(days=1))
    manager.snooze(Notification.objects.filter(message="a"), timezone.now() + timedelta(days=1))
    assert counts(alice) == (0, 0, 0)
    with broker.subscribe([f"auth.user:{alice.pk}"]) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            assert manager.unsnooze(Notification.objects.recipients([alice])) == 1
        [event] = subscription.drain()
    assert len(event.new) == 1
    assert manager.unsnooze(Notification.objects.recipients([alice])) == 0
    woken = Notification.objects.recipients([alice]).get(message="a")
    assert woken.is_published and woken.snoozed_until is None and woken.sent_at > timezone.now() - timedelta(minutes=5)
    # The scheduled one and bob's snoozed one are left alone.
    assert Notification.objects.scheduled().get().message == "scheduled"
    assert Notification.objects.snoozed().get().recipient == bob
    assert counts(alice) == (1, 1, 1) and counts(bob) == (0, 0, 0)
    assert_stats_match_recount()


def test_snooze_counts_custom_flags_and_archived(alice, priority_flags):
    notifier.send("x", alice, flags=[priority_flags.URGENT, Flag.ARCHIVED])
    notifier.send("y", alice)
    until = timezone.now() + timedelta(hours=1)
    assert manager.snooze(Notification.objects.all(), until) == 2
    assert_stats_match_recount()
    assert manager.publish_due(now=until) == 2
    assert Stats.objects.recipients([alice]).get().count(priority_flags.URGENT) == 1
    # Both come back unread and in the inbox, the archived one too: a snooze is "show me later".
    assert Notification.objects.filter(archived_at__isnull=True, read_at__isnull=True).count() == 2
    assert_stats_match_recount()


def test_scheduled_notifications_still_publish(alice):
    later = timezone.now() + timedelta(hours=1)
    notifier.send("scheduled", alice, send_at=later)
    assert manager.snooze(Notification.objects.all(), later + timedelta(hours=1)) == 0
    assert Notification.objects.get().snoozed_until is None
    assert manager.publish_due(now=later) == 1
    assert_stats_match_recount()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_publishers_wake_a_snooze_once(is_postgres, broker):
    from tests.test_concurrency import run_together

    assert is_postgres
    users = User.objects.bulk_create([User(username=f"u{i}") for i in range(20)])
    for i in range(5):
        notifier.send(f"n{i}", User.objects.all())
    until = timezone.now() + timedelta(seconds=30)
    assert manager.snooze(Notification.objects.all(), until) == 100
    with broker.subscribe([f"auth.user:{u.pk}" for u in users]) as subscription:
        woken = run_together(
            lambda: manager.publish_due(now=until, batch_size=7),
            lambda: manager.publish_due(now=until, batch_size=7),
            lambda: manager.unsnooze(Notification.objects.filter(recipient_id__in=[str(u.pk) for u in users[:5]])),
        )
        woken.append(manager.publish_due(now=until))
        announced = [uid for event in subscription.drain() for uid in event.new]
    assert sum(woken) == 100  # type: ignore[arg-type]
    assert len(announced) == len(set(announced)) == 100
    assert not Notification.objects.snoozed().exists()
    assert_stats_match_recount()
