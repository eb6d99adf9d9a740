from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from inbox.exceptions import NotificationError
from inbox.flags import Flag
from inbox.models import Notification, Stats
from inbox.querysets import any_flag_q
from inbox.services import manager, notifier
from tests.testapp.models import Article, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(alice, bob):
    article = Article.objects.create(title="a")
    team = Team.objects.create(name="t")
    n = {
        "plain": notifier.send("plain", alice)[0],
        "by_bob": notifier.send("by bob", alice, actor=bob, target=article)[0],
        "team_action": notifier.send("team", alice, action=team)[0],
        "other": notifier.send("other", bob, actor=alice)[0],
    }
    n["reply"] = notifier.send("reply", alice, parent=n["plain"])[0]
    n["later"] = notifier.send("later", alice, send_at=timezone.now() + timedelta(days=1))[0]
    manager.mark_read(Notification.objects.filter(pk=n["by_bob"].pk))
    manager.archive(Notification.objects.filter(pk=n["team_action"].pk))
    manager.star(Notification.objects.filter(pk=n["plain"].pk))
    return n


def names(queryset, inbox):
    by_pk = {v.pk: k for k, v in inbox.items()}
    return {by_pk[pk] for pk in queryset.values_list("pk", flat=True)}


def test_state_filters(alice, inbox):
    objects = Notification.objects.recipients([alice])
    assert names(objects.read(), inbox) == {"by_bob"}
    # Unread and unseen leave archived ones out, exactly as Stats counts them.
    assert names(objects.unread(), inbox) == {"plain", "reply", "later"}
    assert names(objects.seen(), inbox) == {"by_bob"}
    assert names(objects.unseen(), inbox) == {"plain", "reply", "later"}
    assert names(objects.archived(), inbox) == {"team_action"}
    assert names(objects.active(), inbox) == {"plain", "by_bob", "reply", "later"}
    assert names(objects.starred(), inbox) == {"plain"}
    assert names(objects.flagged(Flag.READ), inbox) == {"by_bob"}
    assert names(objects.unflagged(Flag.READ, Flag.ARCHIVED), inbox) == {"plain", "reply", "later"}
    assert names(objects.sent(), inbox) == {"plain", "by_bob", "team_action", "reply"}
    assert names(objects.visible(), inbox) == names(objects.sent(), inbox)
    assert names(objects.scheduled(), inbox) == {"later"}
    assert names(objects.roots(), inbox) == {"plain", "by_bob", "team_action", "later"}


def test_custom_flags_mix_with_builtins(alice, inbox, priority_flags):
    manager.change_flags(Notification.objects.filter(pk__in=[inbox["plain"].pk, inbox["by_bob"].pk]),
                         add=[priority_flags.URGENT])
    objects = Notification.objects.recipients([alice])
    assert names(objects.flagged(priority_flags.URGENT), inbox) == {"plain", "by_bob"}
    assert names(objects.flagged(priority_flags.URGENT, Flag.READ), inbox) == {"by_bob"}
    assert names(objects.unflagged(priority_flags.URGENT, Flag.ARCHIVED), inbox) == {"reply", "later"}
    assert names(objects.unflagged(priority_flags.PINNED), inbox) == names(objects, inbox)
    assert names(objects.filter(any_flag_q([priority_flags.PINNED, Flag.STARRED])), inbox) == {"plain"}
    assert names(objects.filter(any_flag_q([])), inbox) == set()


def test_relation_filters(alice, bob, inbox):
    assert names(Notification.objects.recipients([bob]), inbox) == {"other"}
    assert names(Notification.objects.recipients(User.objects.filter(pk=bob.pk)), inbox) == {"other"}
    assert names(Notification.objects.actors([bob]), inbox) == {"by_bob"}
    assert names(Notification.objects.actors([alice, bob]), inbox) == {"by_bob", "other"}
    assert names(Notification.objects.actions(Team.objects.all()), inbox) == {"team_action"}
    assert names(Notification.objects.targets([Article.objects.get()]), inbox) == {"by_bob"}
    assert names(Notification.objects.recipients([]), inbox) == set()


def test_type_filters(inbox):
    assert names(Notification.objects.actor_types([User]), inbox) == {"by_bob", "other"}
    assert names(Notification.objects.actor_types(["auth.user"]), inbox) == {"by_bob", "other"}
    assert names(Notification.objects.action_types(["testapp.team"]), inbox) == {"team_action"}
    assert names(Notification.objects.target_types([Article]), inbox) == {"by_bob"}
    with pytest.raises(ValueError, match="Unknown model"):
        Notification.objects.actor_types(["nope.nothing"])
    with pytest.raises(TypeError):
        Notification.objects.actor_types([42])


def test_expired(alice):
    [old] = notifier.send("old", alice)
    Notification.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    notifier.send("fresh", alice)
    assert list(Notification.objects.expired()) == [old]


def test_newest_first_ordering(alice):
    first = notifier.send("first", alice)[0]
    second = notifier.send("second", alice, now=first.sent_at + timedelta(seconds=1))[0]
    assert list(Notification.objects.all()) == [second, first]


def test_visible_and_counted_agree_while_a_scheduled_one_waits(alice):
    """Between send_at and inbox_publish_due a scheduled notification is neither listed nor counted."""
    now = timezone.now()
    notifier.send("now", alice, now=now)
    notifier.send("soon", alice, send_at=now + timedelta(minutes=1), now=now)
    notifier.send("archived", alice, flags=[Flag.ARCHIVED], now=now)
    later = now + timedelta(minutes=5)  # "soon" is due, but nothing has published it yet
    visible = Notification.objects.recipients([alice]).sent(later)
    stats = manager_stats(alice)
    assert sorted(visible.values_list("message", flat=True)) == ["archived", "now"]
    assert visible.count() == stats.total
    assert visible.unread().count() == stats.unread == 1
    assert visible.unseen().count() == stats.unseen == 1
    with pytest.raises(NotificationError):
        manager.read(Notification.objects.get(message="soon").uid, alice)
    manager.publish_due(now=later)
    stats = manager_stats(alice)
    assert Notification.objects.recipients([alice]).visible().unread().count() == stats.unread == 2


def manager_stats(recipient):
    from inbox.models import Stats

    return Stats.objects.recipients([recipient]).get()


# -- Stats.objects.recipients([user]).first(): the fixed statement (inbox.stats_row) --


def _as_dict(stats):
    return {field.attname: getattr(stats, field.attname) for field in Stats._meta.concrete_fields}


def test_stats_first_is_one_fixed_statement_with_the_orms_values(alice, bob, django_assert_num_queries):
    notifier.send("a", [alice, bob], flags=[Flag.STARRED])
    manager.mark_all_read(alice)
    expected = _as_dict(Stats.objects.filter(recipient_id=str(alice.pk)).get())
    with django_assert_num_queries(1):
        found = Stats.objects.recipients([alice]).first()
    assert _as_dict(found) == expected
    assert found._state.db == "default" and not found._state.adding
    found.save()  # an instance like any other: it can be saved back
    assert _as_dict(Stats.objects.filter(pk=found.pk).get())["unread"] == expected["unread"]


def test_stats_first_of_a_recipient_without_a_row_is_none(alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert Stats.objects.recipients([alice]).first() is None


def test_stats_first_keeps_custom_flag_counts(alice, priority_flags):
    notifier.send("a", [alice], flags=[priority_flags.URGENT])
    assert Stats.objects.recipients([alice]).first().custom == {str(priority_flags.URGENT.value): 1}


def test_stats_first_honours_everything_else_asked_of_the_queryset(alice, bob):
    notifier.send("a", [alice])
    assert Stats.objects.filter(total=5).recipients([alice]).first() is None
    assert Stats.objects.recipients([alice]).filter(total=5).first() is None
    assert Stats.objects.recipients([alice]).exclude(total=1).first() is None
    assert Stats.objects.recipients([alice]).values("total").first() == {"total": 1}
    assert Stats.objects.recipients([alice]).only("unread").first().unread == 1
    assert Stats.objects.recipients([bob]).first() is None
    assert Stats.objects.recipients([alice, bob]).first().recipient_id == str(alice.pk)


def test_stats_recipients_of_one_filters_every_other_read(alice, bob):
    """The filter recipients([one]) defers until the query is read: every other use must apply it."""
    notifier.send("b", [bob])
    assert Stats.objects.recipients([alice]).count() == 0
    assert not Stats.objects.recipients([alice]).exists()
    assert list(Stats.objects.recipients([alice])) == []
    notifier.send("a", [alice])
    assert Stats.objects.recipients([alice]).get().recipient_id == str(alice.pk)
    assert [s.recipient_id for s in Stats.objects.recipients([bob])] == [str(bob.pk)]
    assert Stats.objects.recipients([bob]).last().recipient_id == str(bob.pk)
    assert str(alice.pk) in str(Stats.objects.recipients([alice]).query)
