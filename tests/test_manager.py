from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User

from inbox.exceptions import NotificationError
from inbox.flags import Flag
from inbox.models import Notification, Stats
from inbox.services import manager, notifier
from inbox.signals import notifications_flags_changed, notifications_updated
from tests.helpers import assert_stats_match_recount

pytestmark = pytest.mark.django_db


def stats_of(user) -> Stats:
    return Stats.objects.recipients([user]).get()


@pytest.fixture
def three(alice):
    return notifier.send("n{n}", [alice], extra={"n": 1}) + notifier.send("m", alice) + notifier.send("o", alice)


def qs(notifications):
    return Notification.objects.filter(pk__in=[n.pk for n in notifications])


def test_add_remove_and_counts(alice, three):
    assert manager.change_flags(qs(three[:2]), add=[Flag.READ]) == 2
    s = stats_of(alice)
    assert (s.total, s.unread, s.read, s.seen, s.unseen) == (3, 1, 2, 2, 1)  # READ implies SEEN
    assert manager.change_flags(qs(three[:2]), add=[Flag.READ]) == 0  # nothing left to change
    assert manager.change_flags(qs(three), remove=[Flag.READ]) == 2
    assert stats_of(alice).unread == 3
    assert stats_of(alice).seen == 2  # unread does not mean unseen
    assert_stats_match_recount()


def test_add_keeps_the_first_time(alice, three):
    manager.mark_read(qs(three[:1]))
    first = Notification.objects.get(pk=three[0].pk).read_at
    manager.change_flags(qs(three), add=[Flag.READ, Flag.STARRED])
    assert Notification.objects.get(pk=three[0].pk).read_at == first


def test_specify_wins_and_empty_lists_are_ignored(alice, three, priority_flags):
    manager.change_flags(qs(three), add=[Flag.STARRED, priority_flags.PINNED])
    changed = manager.change_flags(qs(three[:1]), add=[Flag.ARCHIVED], remove=[Flag.STARRED], specify=[Flag.READ])
    assert changed == 1
    first = Notification.objects.get(pk=three[0].pk)
    assert first.flags == {Flag.READ, Flag.SEEN}  # exactly these: STARRED and PINNED cleared, ARCHIVED not added
    assert manager.change_flags(qs(three), add=[], remove=[], specify=[]) == 0
    assert stats_of(alice).starred == 2
    assert stats_of(alice).count(priority_flags.PINNED) == 2
    assert_stats_match_recount()


def test_add_and_remove_the_same_flag_is_an_error(three):
    with pytest.raises(ValueError, match="READ"):
        manager.change_flags(qs(three), add=[Flag.READ], remove=[Flag.READ])


def test_unregistered_flag_is_a_value_error(three):
    with pytest.raises(ValueError, match="Unknown notification flag"):
        manager.change_flags(qs(three), add=[42])
    with pytest.raises(ValueError):
        Notification.objects.flagged(42)


def test_custom_flags_change_and_count(alice, three, priority_flags):
    manager.change_flags(qs(three), add=[priority_flags.URGENT])
    manager.change_flags(qs(three[:1]), remove=[priority_flags.URGENT], add=[priority_flags.PINNED])
    assert Notification.objects.flagged(priority_flags.URGENT).count() == 2
    assert Notification.objects.unflagged(priority_flags.URGENT).get().pk == three[0].pk
    assert Notification.objects.flagged(priority_flags.URGENT, priority_flags.PINNED).count() == 0
    stats = stats_of(alice)
    assert stats.count(priority_flags.URGENT) == 2 and stats.count(priority_flags.PINNED) == 1
    assert_stats_match_recount()


def test_change_flag_pipeline_from_settings(alice, three, settings):
    settings.INBOX = {"CHANGE_FLAG_PIPELINE": ["tests.pipelines.forbid_unstar"]}
    manager.star(qs(three))
    assert manager.unstar(qs(three)) == 0
    manager.mark_read(qs(three))
    assert Notification.objects.seen().count() == 0  # the default read_implies_seen step was replaced
    assert_stats_match_recount()


def test_unseen_implies_unread(alice, three):
    manager.mark_read(qs(three))
    manager.change_flags(qs(three[:1]), remove=[Flag.SEEN])
    assert Notification.objects.unread().get().pk == three[0].pk


def test_signals_flags_changed_then_updated(alice, three):
    calls = []

    def on_changed(sender, change, count, **kwargs):
        calls.append(("changed", count, change.add))

    def on_updated(sender, recipients, **kwargs):
        calls.append(("updated", recipients))

    notifications_flags_changed.connect(on_changed)
    notifications_updated.connect(on_updated)
    try:
        manager.mark_read(qs(three))
        manager.mark_read(qs(three))  # no change, no signals
    finally:
        notifications_flags_changed.disconnect(on_changed)
        notifications_updated.disconnect(on_updated)
    key = (three[0].recipient_type_id, str(alice.pk))
    assert calls == [("changed", 3, frozenset({Flag.READ, Flag.SEEN})), ("updated", [key])]


def test_helpers(alice, bob, three):
    notifier.send("for bob", bob)
    assert manager.archive(qs(three[:1])) == 1
    assert stats_of(alice).unread == 2  # archived ones leave the unread count
    assert manager.unarchive(qs(three[:1])) == 1
    assert manager.star(qs(three)) == 3 and stats_of(alice).starred == 3
    assert manager.mark_seen(qs(three)) == 3 and stats_of(alice).unseen == 0
    assert manager.mark_all_read(alice) == 3
    assert stats_of(alice).unread == 0
    assert stats_of(bob).unread == 1  # others untouched
    assert manager.mark_unread(qs(three[:2])) == 2
    assert manager.delete(qs(three[:2])) == 2
    s = stats_of(alice)
    assert (s.total, s.unread, s.starred) == (1, 0, 1)
    assert_stats_match_recount()


def test_operations_on_nothing_return_zero(alice):
    nothing = Notification.objects.none()
    assert manager.delete(nothing) == 0
    assert manager.delete(Notification.objects.filter(pk__in=[])) == 0
    assert manager.mark_read(nothing) == 0


def test_operations_accept_sliced_and_distinct_querysets(alice, three):
    assert manager.mark_read(Notification.objects.order_by("pk")[:2]) == 2
    assert manager.archive(Notification.objects.distinct()) == 3
    assert manager.delete(Notification.objects.order_by("-pk")[:1]) == 1
    assert_stats_match_recount()


def test_delete_detaches_replies(alice):
    [root] = notifier.send("root", alice)
    [reply] = notifier.send("reply", alice, parent=root)
    manager.delete(Notification.objects.filter(pk=root.pk))
    reply.refresh_from_db()
    assert reply.parent_id is None
    assert stats_of(alice).total == 1


def test_mark_all_read_leaves_scheduled_ones(alice):
    from datetime import timedelta

    from django.utils import timezone

    notifier.send("now", alice)
    notifier.send("later", alice, send_at=timezone.now() + timedelta(days=1))
    assert manager.mark_all_read(alice) == 1
    assert Notification.objects.unread().get().message == "later"
    assert_stats_match_recount()


def test_read_marks_one_and_refuses_others(alice, bob, three):
    notification = manager.read(three[0].uid, alice)
    assert notification.pk == three[0].pk and notification.is_read
    assert stats_of(alice).unread == 2
    assert manager.read(str(three[0].uid), alice).is_read  # already read: still returned

    errors = []
    for uid, recipient in [(three[1].uid, bob), (uuid.uuid4(), alice), ("not-a-uuid", alice)]:
        with pytest.raises(NotificationError) as error:
            manager.read(uid, recipient)
        errors.append(str(error.value))
    assert len(set(errors)) == 1  # the same answer whether it exists or not
    assert not Notification.objects.get(pk=three[1].pk).is_read


def test_collect_stats_repairs_drift(alice, bob, three):
    notifier.send("b", bob)
    Notification.objects.update(read_at=None, archived_at=None)  # bypasses the services
    Notification.objects.filter(pk=three[0].pk).update(archived_at=three[0].sent_at)
    Stats.objects.filter(recipient_id=str(bob.pk)).update(unread=42)
    assert manager.collect_stats([alice]) == 1
    assert stats_of(alice).unread == 2
    assert stats_of(bob).unread == 42
    manager.collect_stats()
    assert stats_of(bob).unread == 1
    assert_stats_match_recount()


def test_collect_stats_zeroes_recipients_without_notifications(alice):
    notifier.send("x", alice)
    Notification.objects.all().delete()
    manager.collect_stats(User.objects.all())
    assert stats_of(alice).total == 0


def test_big_changes_run_in_short_transactions(db, settings, django_assert_num_queries):
    """Each batch locks only its own recipients' Stats rows, in a transaction of its own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.INBOX = {"CHANGE_BATCH_SIZE": 2}
    users = [User.objects.create(username=f"user{i}") for i in range(5)]
    notifier.send("hello", users)
    with CaptureQueriesContext(connection) as queries:
        assert manager.mark_read(Notification.objects.all()) == 5
    savepoints = [q for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 3  # 2 + 2 + 1 recipients
    with CaptureQueriesContext(connection) as queries:
        assert manager.delete(Notification.objects.all()) == 5
    assert len([q for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]) == 3
    assert_stats_match_recount()


def test_collect_stats_works_in_batches_and_zeroes_emptied_recipients(db, settings):
    settings.INBOX = {"CHANGE_BATCH_SIZE": 2}
    users = [User.objects.create(username=f"user{i}") for i in range(5)]
    notifier.send("hello", users)
    Notification.objects.filter(recipient_id=str(users[0].pk)).delete()  # bypasses the services
    Stats.objects.filter(recipient_id=str(users[1].pk)).update(unread=42)
    assert manager.collect_stats() == 5
    assert_stats_match_recount()
    assert Stats.objects.get(recipient_id=str(users[0].pk)).total == 0
