"""Muting a thread: by target and by root; send() skips muted recipients in a constant number of queries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection

from inbox.models import Delivery, Mute, Notification
from inbox.services import manager, notifier, threads
from tests.helpers import assert_stats_match_recount
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def apollo(db: None) -> Article:
    return Article.objects.create(title="Apollo")


def test_thread_keys_name_the_target_and_the_root(alice, apollo):
    [root] = notifier.send("root", alice, target=apollo)
    [reply] = notifier.send("reply", alice, parent=root)
    [deeper] = notifier.send("deeper", alice, parent=Notification.objects.get(pk=reply.pk))
    deepest = notifier.send("deepest", alice, parent=Notification.objects.get(pk=deeper.pk))[0]
    ct = root.target_type_id
    assert threads.thread_keys(root) == [f"target:{ct}:{apollo.pk}", f"root:{root.uid}"]
    for notification in (reply, deeper, deepest):
        assert threads.thread_keys(Notification.objects.get(pk=notification.pk)) == [f"root:{root.uid}"]


def test_a_root_deeper_than_one_query_reads(alice):
    [current] = notifier.send("0", alice)
    root = current
    for level in range(1, 11):
        [current] = notifier.send(str(level), alice, parent=Notification.objects.get(pk=current.pk))
    assert threads.root_uid(Notification.objects.get(pk=current.pk)) == root.uid


def test_mute_by_target(alice, bob, apollo, broker, django_capture_on_commit_callbacks):
    [first, _] = notifier.send("{actor} opened {target}", [alice, bob], actor=bob, target=apollo)
    assert manager.mute(alice, first) is True
    assert manager.mute(alice, first) is False  # idempotent
    assert manager.is_muted(alice, first) and not manager.is_muted(bob, first)
    with broker.subscribe([f"auth.user:{alice.pk}"]) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            sent = notifier.send("{actor} commented on {target}", [alice, bob], actor=bob, target=apollo,
                                 channels=["console"])
        assert subscription.drain() == []
    assert [n.recipient for n in sent] == [bob]
    assert Notification.objects.recipients([alice]).count() == 1
    assert not Delivery.objects.filter(recipient_id=str(alice.pk)).exists()
    # Another target is another thread.
    other = Article.objects.create(title="Gemini")
    assert len(notifier.send("{target}", [alice, bob], target=other)) == 2
    assert_stats_match_recount()


def test_mute_by_root_covers_replies(alice, bob):
    [root, _] = notifier.send("started", [alice, bob])
    manager.mute(alice, Notification.objects.get(pk=root.pk))
    [reply] = notifier.send("a reply", [alice, bob], parent=Notification.objects.get(pk=root.pk))
    assert reply.recipient == bob
    # A reply to the reply is in the same thread.
    assert [n.recipient for n in notifier.send("deeper", [alice, bob], parent=Notification.objects.get(pk=reply.pk))] == [bob]
    # Muting a reply mutes its root's thread too.
    [other_root] = notifier.send("other", bob)
    [other_reply] = notifier.send("re: other", bob, parent=Notification.objects.get(pk=other_root.pk))
    manager.mute(bob, Notification.objects.get(pk=other_reply.pk))
    assert Mute.objects.filter(recipient_id=str(bob.pk)).values_list("thread", flat=True).get() == f"root:{other_root.uid}"
    assert notifier.send("again", bob, parent=Notification.objects.get(pk=other_root.pk)) == []


def test_unmute(alice, apollo):
    [first] = notifier.send("{target}", alice, target=apollo)
    manager.mute(alice, first)
    assert notifier.send("{target}", alice, target=apollo) == []
    assert manager.unmute(alice, first) is True
    assert manager.unmute(alice, first) is False
    assert not Mute.objects.exists()
    assert len(notifier.send("{target}", alice, target=apollo)) == 1


def test_queryset_recipients_skip_the_muted(alice, bob, carol, apollo):
    [first] = notifier.send("{target}", alice, target=apollo)
    manager.mute(alice, first)
    sent = notifier.send("{target}", User.objects.all(), target=apollo)
    assert sorted(n.recipient.username for n in sent) == ["bob", "carol"]
    # The per-recipient path (a template naming the recipient) too.
    sent = notifier.send("{recipient}: {target}", User.objects.all(), target=apollo)
    assert sorted(n.message for n in sent) == ["bob: Apollo", "carol: Apollo"]
    assert_stats_match_recount()


def test_silent_sends_skip_the_muted(alice, bob, apollo):
    [first] = notifier.send("{target}", alice, target=apollo)
    manager.mute(alice, first)
    assert [n.recipient for n in notifier.send("{target}", [alice, bob], target=apollo, silent=True)] == [bob]


def test_muted_recipients_cost_one_query_whatever_their_number(apollo, warm_content_types, django_assert_num_queries):
    users = User.objects.bulk_create([User(username=f"user{i}") for i in range(300)])
    [first] = notifier.send("{target}", users[0], target=apollo)
    for user in users[:150]:
        manager.mute(user, first)
    # mutes, savepoint, insert, stats upsert, release
    with django_assert_num_queries(5):
        sent = notifier.send("{target}", users, target=apollo)
    assert len(sent) == 150
    # A QuerySet: the muters, then the INSERT ... SELECT (MariaDB reads the recipients' keys first).
    by_query = 5 if connection.vendor != "mysql" else 6
    with django_assert_num_queries(by_query):
        sent = notifier.send("{target}", User.objects.all(), target=apollo)
    assert len(sent) == 150


def test_a_send_without_target_or_parent_reads_no_mutes(alice, warm_content_types, django_assert_num_queries):
    with django_assert_num_queries(4):  # savepoint, insert, stats upsert, release
        notifier.send("plain", alice)


def test_a_thread_with_more_muters_than_listed_leaves_them_out_in_the_database(
    apollo, warm_content_types, monkeypatch
):
    from inbox.services import threads

    monkeypatch.setattr(threads, "LISTED_MUTES", 3)
    users = User.objects.bulk_create([User(username=f"user{i}") for i in range(10)])
    [first] = notifier.send("{target}", users[0], target=apollo)
    for user in users[:6]:
        manager.mute(user, first)
    sent = notifier.send("{target}", User.objects.filter(pk__in=[u.pk for u in users]), target=apollo)
    assert sorted(n.recipient_id for n in sent) == sorted(str(u.pk) for u in users[6:])
