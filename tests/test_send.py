from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.db.models import BigIntegerField
from django.db.models.functions import Cast
from django.utils import timezone

from inbox.exceptions import MessageFormatError, NotificationError
from inbox.flags import Flag
from inbox.models import Level, Notification, Stats
from inbox.services import manager, notifier
from inbox.signals import notification_sent, notifications_committed, notifications_sent
from tests.helpers import assert_stats_match_recount
from tests.testapp.models import Article, Tag, Team

pytestmark = pytest.mark.django_db


def unread_of(recipient) -> int:
    return Stats.objects.recipients([recipient]).get().unread


def test_send_formats_message_over_actor_target_and_extra(alice, bob):
    article = Article.objects.create(title="Release notes")
    [sent] = notifier.send(
        "{actor.username} commented on {target}: {comment!r}",
        [bob],
        actor=alice,
        target=article,
        extra={"comment": "nice"},
        category="comments",
        level=Level.SUCCESS,
        url="/articles/1/",
    )
    stored = Notification.objects.get(pk=sent.pk)
    assert stored.message == "alice commented on Release notes: 'nice'"
    assert stored.recipient == bob
    assert stored.actor == alice
    assert stored.target == article
    assert stored.action is None
    assert (stored.category, stored.level, stored.url) == ("comments", Level.SUCCESS, "/articles/1/")
    assert stored.extra == {"comment": "nice"}
    assert stored.uid == sent.uid and isinstance(sent.uid, uuid.UUID)
    assert stored.is_published and stored.flags == frozenset()


def test_send_per_recipient_message(alice, bob):
    notifier.send("Hi {recipient.username}", [alice, bob])
    assert sorted(Notification.objects.values_list("message", flat=True)) == ["Hi alice", "Hi bob"]


def test_literal_braces_are_unescaped(alice):
    [sent] = notifier.send("Use {{braces}}", alice)
    assert sent.message == "Use {braces}"


@pytest.mark.parametrize(
    "template, kwargs",
    [
        ("{missing}", {}),
        ("{actor.nope}", {}),
        ("{0}", {}),
        ("{actor", {}),
        ("{actor.__class__}", {}),
        ("{target._meta}", {}),
        ("{comment:d}", {"extra": {"comment": "text"}}),
    ],
)
def test_bad_format_fails_before_anything_is_written(alice, bob, template, kwargs):
    with pytest.raises(MessageFormatError):
        notifier.send(template, [alice, bob], actor=alice, target=alice, **kwargs)
    assert not Notification.objects.exists()
    assert not Stats.objects.exists()


def test_bad_per_recipient_format_writes_nothing(alice):
    team = Team.objects.create(name="ops")
    with pytest.raises(MessageFormatError):
        notifier.send("Hi {recipient.username}", [alice, team])  # a Team has no username
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"level": 99},
        {"category": "not a slug"},
        {"url": "javascript:alert(1)"},
        {"url": "//evil.example/"},
        {"extra": {"actor": "x"}},
        {"extra": {"when": object()}},
        {"extra": ["not", "a", "dict"]},
        {"flags": [99]},
    ],
)
def test_bad_arguments_are_refused(alice, kwargs):
    with pytest.raises((NotificationError, ValueError)):
        notifier.send("hello", alice, **kwargs)
    assert not Notification.objects.exists()


def test_unsaved_parent_is_refused(alice):
    with pytest.raises(NotificationError):
        notifier.send("reply", alice, parent=Notification(message="x"))


def test_recipient_forms_and_duplicates(alice, bob, carol):
    group = Group.objects.create(name="staff")
    group.user_set.add(alice, bob)
    assert len(notifier.send("one", alice)) == 1
    assert len(notifier.send("list with repeats", [alice, bob, alice])) == 2
    assert len(notifier.send("group", group)) == 2
    assert len(notifier.send("group and user", [group, bob, carol])) == 3
    assert len(notifier.send("queryset", User.objects.filter(username__in=["alice", "carol"]))) == 2
    assert len(notifier.send("groups queryset", Group.objects.all())) == 2
    assert len(notifier.send("nobody", [])) == 0
    assert unread_of(alice) == 6
    assert unread_of(bob) == 4
    assert unread_of(carol) == 2
    assert_stats_match_recount()


def test_queryset_with_joins_and_slices_sends_once_each(alice, bob):
    group = Group.objects.create(name="g")
    alice.groups.add(group)
    Group.objects.create(name="h").user_set.add(alice)
    joined = User.objects.filter(groups__name__in=["g", "h"])  # alice twice
    assert len(notifier.send("joined", joined)) == 1
    assert len(notifier.send("sliced", User.objects.order_by("username")[:1])) == 1
    assert Notification.objects.count() == 2


def test_non_integer_keys_work_as_recipients_actors_and_targets(alice):
    team = Team.objects.create(name="ops")
    tag = Tag.objects.create(slug="urgent")
    sent = notifier.send("{actor} tagged {target}", Team.objects.all(), actor=tag, target=team)
    notifier.send("again", [team, tag])
    assert sent[0].recipient_id == str(team.pk)
    assert Notification.objects.recipients([team]).count() == 2
    assert Notification.objects.recipients(Team.objects.all()).count() == 2
    assert Notification.objects.recipients(Tag.objects.all()).count() == 1
    assert Notification.objects.actors([tag]).get().target == team
    assert Stats.objects.recipients([team]).get().total == 2


def test_queryset_and_list_paths_store_the_same(alice, bob, priority_flags):
    flags = [Flag.STARRED, priority_flags.URGENT]
    by_list = notifier.send("hi {actor}", [alice, bob], actor=alice, flags=flags, extra={"n": 1})
    by_query = notifier.send("hi {actor}", User.objects.all(), actor=alice, flags=flags, extra={"n": 1})
    fields = ["recipient_type_id", "recipient_id", "message", "actor_id", "extra", "is_published"]

    def stored(sent):
        rows = Notification.objects.filter(pk__in=[n.pk for n in sent]).prefetch_related("custom_flag_rows")
        return sorted((*(getattr(n, f) for f in fields), sorted(n.custom_flag_values())) for n in rows)

    assert stored(by_list) == stored(by_query)
    for returned in (by_list, by_query):
        for notification in returned:
            fresh = Notification.objects.get(pk=notification.pk)
            assert (fresh.uid, fresh.recipient_id, fresh.message) == (notification.uid, notification.recipient_id, notification.message)
            assert notification.starred_at is not None and not notification._state.adding
            assert notification.flags == fresh.flags == {Flag.STARRED, priority_flags.URGENT}
    assert_stats_match_recount()


def test_flags_at_send_are_counted(alice):
    notifier.send("read already", alice, flags=[Flag.READ, Flag.SEEN])
    notifier.send("archived", alice, flags=[Flag.ARCHIVED])
    notifier.send("plain", alice)
    stats = Stats.objects.recipients([alice]).get()
    assert (stats.total, stats.unread, stats.unseen, stats.read, stats.archived) == (3, 1, 1, 1, 1)
    assert_stats_match_recount()


def test_custom_flags_at_send(alice, priority_flags):
    notifier.send("urgent", [alice], flags=[priority_flags.URGENT])
    notifier.send("urgent too", User.objects.all(), flags=[priority_flags.URGENT, priority_flags.PINNED])
    assert Notification.objects.flagged(priority_flags.URGENT).count() == 2
    assert Notification.objects.flagged(priority_flags.PINNED).get().message == "urgent too"
    stats = Stats.objects.recipients([alice]).get()
    assert stats.count(priority_flags.URGENT) == 2
    assert stats.count(priority_flags.PINNED) == 1
    assert stats.flags[Flag.READ] == 0
    assert_stats_match_recount()


def test_batch_size_splits_inserts(alice, bob, carol, warm_content_types, django_assert_num_queries):
    recipients = [alice, bob, carol]
    # savepoint, 3 inserts of one row, one Stats upsert, release
    with django_assert_num_queries(6):
        notifier.send("batched", recipients, batch_size=1)
    assert Notification.objects.count() == 3


def test_send_query_count_does_not_grow_with_recipients(db, warm_content_types, django_assert_num_queries):
    User.objects.bulk_create([User(username=f"user{i}") for i in range(1000)])
    few = list(User.objects.all()[:10])
    many = list(User.objects.all())
    with django_assert_num_queries(4):  # savepoint, insert, stats upsert, release
        notifier.send("few", few)
    with django_assert_num_queries(4):
        notifier.send("many", many, batch_size=1000)
    # SQLite: savepoint, INSERT ... SELECT, Stats, release. PostgreSQL: savepoint, the recipients'
    # keys (one streamed query), one INSERT that also counts, release. MariaDB/MySQL cannot make
    # random UUIDs in SQL: a QuerySet's keys are read first (one query a page).
    by_query = 4 if connection.vendor != "mysql" else 5
    with django_assert_num_queries(by_query):
        notifier.send("few by query", User.objects.filter(pk__in=[u.pk for u in few]))
    with django_assert_num_queries(by_query):
        notifier.send("many by query", User.objects.all(), batch_size=5000)
    # A QuerySet is read in pages of batch_size (no COUNT(*) first): 1000 / 400 -> 400, 400, 200.
    # SQLite: an INSERT and a Stats upsert per page, the short page ending it; PostgreSQL: one
    # INSERT that counts per page, until the streamed keys end.
    in_pages = {"sqlite": 8, "postgresql": 6}.get(connection.vendor, 9)
    with django_assert_num_queries(in_pages):
        notifier.send("many by query in pages", User.objects.all(), batch_size=400)
    assert Notification.objects.count() == 3020
    assert Notification.objects.filter(message="many by query in pages").values("recipient_id").distinct().count() == 1000
    assert_stats_match_recount()


@pytest.mark.postgres
def test_postgresql_queryset_send_counts_in_its_insert_and_filters_once(db, warm_content_types):
    """On PostgreSQL each page is one statement inserting the rows and upserting their Stats, and
    the recipients' filter runs once however many pages there are."""
    from django.test.utils import CaptureQueriesContext

    User.objects.bulk_create([User(username=f"user{i}") for i in range(25)] + [User(username="other")])
    notifier.send("earlier", User.objects.filter(username__in=["user3", "other"]))
    with CaptureQueriesContext(connection) as captured:
        sent = notifier.send("paged", User.objects.filter(username__startswith="user"), batch_size=10)
    statements = [q["sql"] for q in captured.captured_queries]
    assert len(sent) == 25
    assert sum('FROM "auth_user"' in sql for sql in statements) == 1
    inserts = [sql for sql in statements if 'INSERT INTO "inbox_notification"' in sql]
    assert len(inserts) == 3 and all('INSERT INTO "inbox_stats"' in sql for sql in inserts)
    assert not any(sql.startswith('INSERT INTO "inbox_stats"') for sql in statements)
    assert Notification.objects.filter(message="paged").values("recipient_id").distinct().count() == 25
    assert Stats.objects.recipients(User.objects.filter(username="user3")).get().total == 2
    assert not Notification.objects.filter(message="paged", recipient_id=str(User.objects.get(username="other").pk))
    assert_stats_match_recount()


@pytest.mark.postgres
def test_postgresql_queryset_send_works_without_server_side_cursors(db, monkeypatch):
    """Behind PgBouncer in transaction mode sites set DISABLE_SERVER_SIDE_CURSORS: the keys then
    come in one result, and the pages are the same."""
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    User.objects.bulk_create([User(username=f"user{i}") for i in range(25)])
    sent = notifier.send("paged", User.objects.all(), batch_size=10)
    assert sorted(n.recipient_id for n in sent) == sorted(str(pk) for pk in User.objects.values_list("pk", flat=True))
    assert_stats_match_recount()


def test_preparation_pipeline_sees_unsaved_list(alice, bob, settings):
    settings.INBOX = {"PREPARATION_PIPELINE": ["tests.pipelines.shout", "tests.pipelines.drop_bob"]}
    sent = notifier.send("hello", User.objects.all())
    assert [n.message for n in sent] == ["HELLO"]
    assert Notification.objects.get().recipient == alice
    assert not Notification.objects.recipients([bob]).exists()
    assert_stats_match_recount()


def test_preparation_pipeline_may_change_state(alice, settings):
    settings.INBOX = {"PREPARATION_PIPELINE": ["tests.pipelines.mark_read"]}
    notifier.send("hello", alice)
    assert Stats.objects.recipients([alice]).get().unread == 0
    assert_stats_match_recount()


def test_signals(alice, bob):
    seen_one, seen_all = [], []

    def on_one(sender, notification, **kwargs):
        seen_one.append(notification.pk)

    def on_all(sender, notifications, recipients, **kwargs):
        seen_all.append(sorted(n.pk for n in notifications))

    notifications_sent.connect(on_all)
    try:
        notifier.send("without per-notification receivers", User.objects.all())
        assert seen_one == [] and len(seen_all) == 1
        notification_sent.connect(on_one)
        try:
            sent = notifier.send("with", User.objects.all())
        finally:
            notification_sent.disconnect(on_one)
    finally:
        notifications_sent.disconnect(on_all)
    assert sorted(seen_one) == sorted(n.pk for n in sent)
    assert seen_all[1] == sorted(n.pk for n in sent)


def test_silent_persists_nothing_and_publishes(alice, broker, django_capture_on_commit_callbacks):
    with broker.subscribe([f"auth.user:{alice.pk}"]) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            returned = notifier.send("psst {actor.username}", alice, actor=alice, silent=True, level=Level.WARNING)
        [event] = subscription.drain()
    assert not Notification.objects.exists()
    assert not Stats.objects.exists()
    assert returned[0].pk is None
    assert event.new == ()
    assert event.silent[0]["message"] == "psst alice"
    assert event.silent[0]["level"] == Level.WARNING


def test_silent_cannot_be_scheduled(alice):
    with pytest.raises(NotificationError):
        notifier.send("later", alice, silent=True, send_at=timezone.now() + timedelta(hours=1))


def test_scheduled_is_stored_but_invisible_until_published(alice, broker, django_capture_on_commit_callbacks):
    now = timezone.now()
    with broker.subscribe([f"auth.user:{alice.pk}"]) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            [later] = notifier.send("later", alice, send_at=now + timedelta(hours=1), now=now)
        assert subscription.drain() == []
        assert not later.is_published
        assert not Notification.objects.sent(now).exists()
        assert Notification.objects.scheduled(now).get() == later
        assert Stats.objects.recipients([alice]).get().total == 0

        assert manager.publish_due(now=now) == 0
        due = now + timedelta(hours=2)
        with django_capture_on_commit_callbacks(execute=True):
            assert manager.publish_due(now=due) == 1
        [event] = subscription.drain()
        assert event.new == (str(later.uid),)
        with django_capture_on_commit_callbacks(execute=True):
            assert manager.publish_due(now=due) == 0  # exactly once
        assert subscription.drain() == []
    assert Stats.objects.recipients([alice]).get().unread == 1
    assert Notification.objects.sent(due).get() == later
    assert_stats_match_recount()


def test_expires_at(alice):
    now = timezone.now()
    [sent] = notifier.send("offer", alice, expires_at=now + timedelta(days=1), now=now)
    assert Notification.objects.get().expires_at == sent.expires_at == now + timedelta(days=1)
    assert not Notification.objects.expired(now).exists()
    assert Notification.objects.expired(now + timedelta(days=2)).get() == sent
    with pytest.raises(NotificationError):
        notifier.send("already over", alice, expires_at=now - timedelta(seconds=1), now=now)


def test_send_at_in_the_past_is_visible_at_once(alice):
    [sent] = notifier.send("backdated", alice, send_at=timezone.now() - timedelta(days=1))
    assert sent.is_published
    assert Stats.objects.recipients([alice]).get().unread == 1


def test_rolled_back_send_publishes_nothing_and_keeps_stats(alice, broker, django_capture_on_commit_callbacks):
    notifier.send("kept", alice)
    before = Stats.objects.recipients([alice]).get().unread
    with broker.subscribe([f"auth.user:{alice.pk}"]) as subscription:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RuntimeError):
                with transaction.atomic():
                    notifier.send("lost", alice)
                    raise RuntimeError("roll back")
        assert callbacks == []
        assert subscription.drain() == []
    assert Stats.objects.recipients([alice]).get().unread == before
    assert Notification.objects.get().message == "kept"


def test_thread_parent(alice, bob):
    [root] = notifier.send("question", alice)
    [reply] = notifier.send("answer", alice, parent=root)
    assert reply.parent_id == root.pk
    assert list(Notification.objects.roots()) == [root]
    assert list(root.children.all()) == [reply]


# -- Hardening: recipients fixed once, Stats from the rows inserted ---------------------------------


def test_a_filter_the_insert_changes_is_counted_as_inserted(alice, bob):
    """"Users not yet welcomed": evaluated again after the insert, it would find nobody to count."""
    already = Notification.objects.filter(category="welcome").annotate(
        user_pk=Cast("recipient_id", output_field=BigIntegerField())
    ).values("user_pk")
    sent = notifier.send("welcome", User.objects.exclude(pk__in=already), category="welcome")
    assert len(sent) == 2
    assert unread_of(alice) == unread_of(bob) == 1
    assert notifier.send("welcome", User.objects.exclude(pk__in=already), category="welcome") == []
    assert_stats_match_recount()


def test_a_randomly_ordered_slice_is_fixed_once(db):
    User.objects.bulk_create([User(username=f"u{i}") for i in range(12)])
    for _ in range(5):
        sent = notifier.send("lottery", User.objects.order_by("?")[:3])
        assert len(sent) == 3
        assert Notification.objects.filter(pk__in=[n.pk for n in sent]).count() == 3
    assert_stats_match_recount()


@pytest.mark.parametrize(
    "empty",
    [
        lambda: User.objects.none(),
        lambda: User.objects.filter(pk__in=[]),
        lambda: Group.objects.none(),
        lambda: Group.objects.filter(pk__in=[]),
        lambda: User.objects.filter(username="nobody"),
    ],
)
def test_an_empty_queryset_sends_nothing(alice, empty):
    assert list(notifier.send("nobody", empty())) == []
    assert list(notifier.send("nobody {recipient}", empty())) == []
    assert not Notification.objects.exists()


def test_send_returns_a_compact_sequence(alice, bob, carol):
    sent = notifier.send("hi", User.objects.all())
    assert len(sent) == 3 and sent[-1].pk == sent[2].pk
    assert [n.recipient_id for n in sent[:2]] == [str(alice.pk), str(bob.pk)]
    assert sorted(n.pk for n in sent) == sorted(Notification.objects.values_list("pk", flat=True))
    assert [n.message for n in sent + notifier.send("more", alice)] == ["hi", "hi", "hi", "more"]
    with pytest.raises(IndexError):
        sent[3]


# -- Hardening: signals after the transaction -----------------------------------------------------


def test_a_raising_receiver_never_undoes_the_send(alice, caplog):
    def broken(**kwargs):
        raise RuntimeError("receiver bug")

    notifications_sent.connect(broken)
    notification_sent.connect(broken)
    try:
        [sent] = notifier.send("kept", alice)
    finally:
        notifications_sent.disconnect(broken)
        notification_sent.disconnect(broken)
    assert Notification.objects.get().pk == sent.pk
    assert unread_of(alice) == 1
    failures = [r for r in caplog.records if r.name == "django.dispatch" and "receiver bug" in str(r.exc_info[1])]
    assert len(failures) == 2  # logged once for each signal, never raised


def test_receivers_see_the_rows_and_committed_runs_only_after_commit(alice, django_capture_on_commit_callbacks):
    seen, committed = [], []

    def on_sent(notifications, **kwargs):
        seen.append(Notification.objects.filter(pk__in=[n.pk for n in notifications]).count())

    def on_committed(notifications, **kwargs):
        committed.append(len(notifications))

    notifications_sent.connect(on_sent)
    notifications_committed.connect(on_committed)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            notifier.send("first", alice)
            assert committed == []  # not before commit
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
            with transaction.atomic():
                notifier.send("rolled back", alice)
                raise RuntimeError("roll back")
    finally:
        notifications_sent.disconnect(on_sent)
        notifications_committed.disconnect(on_committed)
    assert seen == [1, 1]
    assert committed == [1]  # never for the send that rolled back


def test_message_length_is_limited(alice, settings):
    settings.INBOX = {"MAX_MESSAGE_LENGTH": 20}
    with pytest.raises(NotificationError):
        notifier.send("x" * 21, alice)
    with pytest.raises(NotificationError):
        notifier.send("{text}", alice, extra={"text": "y" * 21})
    assert not Notification.objects.exists()
    assert len(notifier.send("x" * 20, alice)) == 1


@pytest.mark.parametrize("category", ["news\n", "news\r\n", "a b", "x" * 65])
def test_category_is_a_slug_end_to_end(alice, category):
    with pytest.raises(NotificationError):
        notifier.send("hello", alice, category=category)
    assert not Notification.objects.exists()


def test_long_per_recipient_messages_are_inserted_in_bounded_payloads(db):
    """2,000 recipients x 9,000 characters is 18 MB of rows: over MariaDB's default 16 MB packet
    if sent as one parameter. Rows are split by size; a shared message is sent only once."""
    User.objects.bulk_create([User(username=f"reader{i:04}") for i in range(2000)])
    text = "x" * 9000
    sent = notifier.send("{recipient.username}{body}", User.objects.all(), extra={"body": text}, batch_size=5000)
    assert len(sent) == 2000
    assert Notification.objects.filter(message__endswith=text).count() == 2000
    assert Notification.objects.get(recipient_id=str(User.objects.get(username="reader0007").pk)).message.startswith("reader0007x")
    assert_stats_match_recount()
