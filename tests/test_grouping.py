"""send(group_key=...): later notifications fold into the recipient's open row ("Alice and 4 others")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from inbox.exceptions import NotificationError
from inbox.flags import Flag
from inbox.models import GroupedItem, Notification, Stats
from inbox.services import manager, notifier
from tests.helpers import assert_stats_match_recount
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def apollo(db: None) -> Article:
    return Article.objects.create(title="Apollo")


def actors(count: int) -> list[User]:
    return User.objects.bulk_create([User(username=f"actor{i}") for i in range(count)])


def comment(recipients, actor, target, **kwargs):
    return notifier.send("{actor} commented on {target}", recipients, actor=actor, target=target,
                         group_key=f"comments:{target.pk}", **kwargs)


def test_five_actors_make_one_row_with_the_phrase(alice, apollo):
    people = actors(5)
    start = timezone.now()
    for offset, person in enumerate(people):
        comment(alice, person, apollo, now=start + timedelta(minutes=offset))
    row = Notification.objects.get()
    assert row.message == "actor4 and 4 others commented on Apollo"
    assert (row.group_size, row.group_actors, row.actor) == (5, 5, people[4])
    assert row.sent_at == start + timedelta(minutes=4)
    items = list(row.grouped_items.order_by("sent_at"))
    # Every notification of the group, each in its own words (the row reads "… and 4 others").
    assert [item.actor for item in items] == people
    assert [item.message for item in items] == [f"actor{i} commented on Apollo" for i in range(5)]
    assert [item.sent_at for item in items] == [start + timedelta(minutes=i) for i in range(5)]
    stats = Stats.objects.recipients([alice]).get()
    assert (stats.total, stats.unread, stats.unseen) == (1, 1, 1)
    assert_stats_match_recount()


def test_the_same_actor_twice_counts_once(alice, bob, carol, apollo):
    for actor in (bob, carol, bob, bob):
        comment(alice, actor, apollo)
    row = Notification.objects.get()
    assert (row.group_size, row.group_actors) == (4, 2)
    assert row.message == "bob and 1 other commented on Apollo"
    assert GroupedItem.objects.filter(head=row).count() == 4


def test_a_template_without_actor_takes_the_new_message(alice, bob, carol, apollo):
    notifier.send("New comment on {target}", alice, actor=bob, target=apollo, group_key="k")
    notifier.send("Another comment on {target}", alice, actor=carol, target=apollo, group_key="k")
    row = Notification.objects.get()
    assert row.message == "Another comment on Apollo" and row.group_actors == 2


def test_actor_text_keeps_shortcode_escaping(alice, apollo):
    tricky = User.objects.create(username="[b]bold[/b]")
    plain = User.objects.create(username="plain")
    comment(alice, tricky, apollo)
    comment(alice, plain, apollo)
    comment(alice, tricky, apollo)
    assert Notification.objects.get().message == "[[b]]bold[[/b]] and 1 other commented on Apollo"


def test_the_head_moves_to_the_top_and_is_news_again(alice, bob, carol, apollo):
    start = timezone.now()
    comment(alice, bob, apollo, now=start)
    notifier.send("something else", alice, now=start + timedelta(minutes=1))
    manager.mark_seen(Notification.objects.all())
    [head] = comment(alice, carol, apollo, now=start + timedelta(minutes=2))
    newest = Notification.objects.recipients([alice]).first()
    assert newest is not None and newest.pk == head.pk and newest.seen_at is None
    assert head.message == "carol and 1 other commented on Apollo" and head.group_size == 2
    stats = Stats.objects.recipients([alice]).get()
    assert (stats.total, stats.unread, stats.unseen, stats.seen) == (2, 2, 1, 1)
    assert_stats_match_recount()


def test_a_read_or_archived_head_starts_a_new_group(alice, bob, carol, apollo):
    comment(alice, bob, apollo)
    manager.mark_read(Notification.objects.all())
    comment(alice, carol, apollo)
    comment(alice, bob, apollo)
    assert Notification.objects.count() == 2
    manager.archive(Notification.objects.filter(read_at__isnull=True))
    comment(alice, carol, apollo)
    assert Notification.objects.count() == 3
    assert sorted(Notification.objects.values_list("group_size", flat=True)) == [1, 1, 2]
    assert_stats_match_recount()


def test_some_recipients_fold_others_get_a_row(alice, bob, carol, apollo, broker, django_capture_on_commit_callbacks):
    dave = User.objects.create(username="dave")
    comment([alice, bob], dave, apollo)
    with broker.subscribe([f"auth.user:{alice.pk}", f"auth.user:{carol.pk}"]) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            sent = comment([alice, bob, carol], carol, apollo)
        received = {event.recipient: event for event in subscription.drain()}
    assert len(sent) == 3
    assert Notification.objects.count() == 3
    alice_row = Notification.objects.recipients([alice]).get()
    assert {n.pk for n in sent} >= {alice_row.pk}
    [returned] = [n for n in sent if n.pk == alice_row.pk]
    assert (returned.uid, returned.group_size, returned.message) == (
        alice_row.uid, 2, "carol and 1 other commented on Apollo"
    )
    event = received[f"auth.user:{alice.pk}"]
    assert event.new == (str(alice_row.uid),)
    assert event.details[0]["message"] == "carol and 1 other commented on Apollo"
    assert Notification.objects.recipients([carol]).get().group_key == f"comments:{apollo.pk}"
    assert_stats_match_recount()


def test_a_queryset_of_recipients_folds_too(alice, bob, carol, apollo):
    comment(User.objects.filter(pk__in=[alice.pk, bob.pk]), carol, apollo)
    comment(User.objects.all(), bob, apollo)
    assert Notification.objects.count() == 3
    assert Notification.objects.recipients([alice]).get().group_size == 2
    assert Notification.objects.recipients([carol]).get().group_size == 1
    assert_stats_match_recount()


def test_recipient_templates_render_per_recipient(alice, bob, carol, apollo):
    for actor in (bob, carol):
        notifier.send("{recipient}: {actor} liked {target}", [alice, bob], actor=actor, target=apollo, group_key="likes")
    assert set(Notification.objects.values_list("message", flat=True)) == {
        "alice: carol and 1 other liked Apollo", "bob: carol and 1 other liked Apollo",
    }


@pytest.mark.parametrize("key", ["", "x" * 129, 5])
def test_bad_group_keys_are_refused(alice, key):
    with pytest.raises(NotificationError):
        notifier.send("hi", alice, group_key=key)
    assert not Notification.objects.exists()


def test_scheduled_and_read_sends_do_not_fold(alice, bob, carol, apollo):
    comment(alice, bob, apollo)
    comment(alice, carol, apollo, send_at=timezone.now() + timedelta(hours=1))
    comment(alice, carol, apollo, flags=[Flag.READ])
    assert Notification.objects.count() == 3
    assert Notification.objects.get(pk=Notification.objects.order_by("pk").first().pk).group_size == 1
    assert_stats_match_recount()


def test_grouped_send_queries_do_not_grow_with_recipients(db, apollo, warm_content_types, django_assert_num_queries):
    users = User.objects.bulk_create([User(username=f"user{i}") for i in range(210)])
    few, many = users[:10], users[10:210]
    actor_one, actor_two = actors(2)
    # Half of each set already has an open row of the group.
    comment(few[:5], actor_one, apollo)
    comment(many[:100], actor_one, apollo)

    def counted(recipients) -> int:
        with connection.execute_wrapper(lambda execute, *args: (queries.append(1), execute(*args))[1]):
            comment(recipients, actor_two, apollo, batch_size=500)
        return len(queries)

    queries: list[int] = []
    small = counted(few)
    queries = []
    large = counted(many)
    assert small == large
    fresh = User.objects.bulk_create([User(username=f"fresh{i}") for i in range(5)])
    # mutes of the target's thread, savepoint, lock, heads, copy first items, add the new items,
    # update heads, insert, stats upsert, release
    with django_assert_num_queries(10):
        comment([*users[:5], *fresh], actor_one, apollo, batch_size=500)
    assert Notification.objects.filter(group_size=3).count() == 5
    assert_stats_match_recount()


def test_no_recipients_left_is_an_empty_send(alice, bob, apollo):
    comment(alice, bob, apollo)
    sent = comment([], bob, apollo)
    assert list(sent) == []


def test_a_preparation_pipeline_sees_only_new_rows(alice, bob, carol, apollo, settings):
    settings.INBOX = {"PREPARATION_PIPELINE": ["tests.pipelines.shout"]}
    comment(alice, bob, apollo)
    sent = comment([alice, bob], carol, apollo)
    assert sorted(n.message for n in sent) == ["CAROL COMMENTED ON APOLLO", "carol and 1 other commented on Apollo"]
    assert Notification.objects.count() == 2
    assert_stats_match_recount()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_grouped_sends_end_with_one_row(is_postgres):
    from tests.test_concurrency import run_together

    assert is_postgres
    apollo = Article.objects.create(title="Apollo")
    recipients = User.objects.bulk_create([User(username=f"r{i}") for i in range(5)])
    senders = actors(4)

    def sender(actor: User) -> None:
        for _ in range(10):
            comment(User.objects.filter(pk__in=[r.pk for r in recipients]), actor, apollo)

    run_together(*(lambda actor=actor: sender(actor) for actor in senders))
    assert Notification.objects.count() == 5
    assert set(Notification.objects.values_list("group_size", "group_actors")) == {(40, 4)}
    assert GroupedItem.objects.count() == 5 * 40
    assert_stats_match_recount()


def test_a_queryset_send_folds_with_insert_select_in_constant_queries(db, apollo, warm_content_types):
    """A QuerySet of recipients keeps the set-based path (no recipient becomes a Python object):
    heads are read in pages, everyone else gets a row, and the queries do not grow."""
    from django.test.utils import CaptureQueriesContext

    users = User.objects.bulk_create([User(username=f"user{i}") for i in range(210)])
    actor_one, actor_two = actors(2)
    few = User.objects.filter(pk__in=[u.pk for u in users[:10]])
    many = User.objects.filter(pk__in=[u.pk for u in users[10:210]])
    comment(User.objects.filter(pk__in=[u.pk for u in users[:5]]), actor_one, apollo)
    comment(User.objects.filter(pk__in=[u.pk for u in users[10:110]]), actor_one, apollo)

    def counted(recipients) -> int:
        with CaptureQueriesContext(connection) as captured:
            sent = comment(recipients, actor_two, apollo, batch_size=500)
        assert len(sent) == recipients.count()
        if connection.vendor != "mysql":  # MariaDB has no INSERT ... RETURNING: its sends read recipients
            statements = [q["sql"] for q in captured.captured_queries]
            inserts = [sql for sql in statements if 'INSERT INTO "inbox_notification"' in sql]
            if connection.vendor == "postgresql":  # keys stream from one query into unnest()
                assert inserts and all("unnest(" in sql for sql in inserts)
                assert any(sql.startswith("SELECT") and 'FROM "auth_user"' in sql for sql in statements)
            else:
                assert inserts and all('FROM "auth_user"' in sql for sql in inserts)  # INSERT ... SELECT
        return len(captured.captured_queries)

    assert counted(few) == counted(many)
    rows = Notification.objects.filter(recipient_id__in=[str(u.pk) for u in users])
    assert rows.count() == 210  # one row each: folded or new
    assert rows.filter(group_size=2).count() == 105 and rows.filter(group_size=1).count() == 105
    assert set(rows.filter(group_size=2).values_list("message", flat=True)) == {
        "actor1 and 1 other commented on Apollo"}
    assert_stats_match_recount()


def test_a_silent_send_cannot_join_a_group(alice):
    with pytest.raises(NotificationError):
        notifier.send("x", alice, silent=True, group_key="k")
    assert not Notification.objects.exists()
