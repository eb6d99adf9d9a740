"""Issue 12: a site's own flags take any 32-bit value (seed 000 parity), stored as rows of
NotificationFlag, with exact Stats, index-friendly filters and constant query counts."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import QueryDict
from django.utils import timezone

from inbox import stats
from inbox.contrib.api.params import BadParameter, filter_queryset
from inbox.flags import Flag, FlagsRegistry
from inbox.models import Notification, NotificationFlag, Stats
from inbox.services import counted_update, manager, notifier
from tests.helpers import assert_stats_match_recount


class Wide(enum.IntEnum):
    """Values the old bit column could not hold: zero, negative, large, the 32-bit edges."""

    ZERO = 0
    MINUS_SEVEN = -7
    THOUSAND = 1000
    TOP = 2**31 - 1
    BOTTOM = -(2**31)


@pytest.fixture
def wide() -> Iterator[type[Wide]]:
    Notification.flags_registry.add(Wide)
    yield Wide
    Notification.flags_registry.remove(Wide)


def stats_of(user: User) -> Stats:
    return Stats.objects.recipients([user]).get()


def custom_counts(user: User) -> dict[str, int]:
    return stats_of(user).custom


# -- Registering ---------------------------------------------------------------------------------


def test_any_32_bit_value_registers_and_builtins_keep_theirs():
    registry = FlagsRegistry()
    registry.add(Wide)
    assert [flag.value for flag in registry.custom()] == sorted(member.value for member in Wide)
    assert registry.get(0) is Wide.ZERO and registry.get(-7) is Wide.MINUS_SEVEN
    assert registry.get(2) is Flag.READ
    assert Wide.TOP in registry and 5 not in registry
    registry.remove(Wide)
    assert registry.custom() == [] and [flag.value for flag in registry] == [1, 2, 3, 4]
    registry.remove(Flag)  # built-ins stay
    assert registry.get(1) is Flag.SEEN


def test_a_value_outside_32_bits_is_refused_with_a_clear_message():
    class TooBig(enum.IntEnum):
        HUGE = 2**31

    class TooSmall(enum.IntEnum):
        TINY = -(2**31) - 1

    registry = FlagsRegistry()
    for flags in (TooBig, TooSmall):
        with pytest.raises(ImproperlyConfigured, match=r"signed 32-bit integer \(-2147483648 to 2147483647\)"):
            registry.add(flags)
    assert registry.custom() == []


def test_bool_and_non_int_values_are_refused():
    class Truthy(enum.Enum):
        YES = True

    class Texty(enum.Enum):
        WORD = "word"

    registry = FlagsRegistry()
    with pytest.raises(ImproperlyConfigured, match=r"Truthy.YES must have an int value, not True"):
        registry.add(Truthy)
    with pytest.raises(ImproperlyConfigured, match="must have an int value"):
        registry.add(Texty)
    with pytest.raises(ImproperlyConfigured, match="int Enum class"):
        registry.add(7)  # type: ignore[arg-type]


def test_a_clash_is_an_error_and_registers_nothing():
    class ReadToo(enum.IntEnum):
        FINE = 77
        READ = 2

    class Zero(enum.IntEnum):
        NOTHING = 0

    registry = FlagsRegistry()
    with pytest.raises(ImproperlyConfigured, match=r"ReadToo.READ \(2\) clashes with the registered flag Flag.READ"):
        registry.add(ReadToo)
    assert 77 not in registry  # all or nothing
    registry.add(Wide)
    with pytest.raises(ImproperlyConfigured, match=r"Zero.NOTHING \(0\) clashes with .*Wide.ZERO"):
        registry.add(Zero)
    registry.add(Wide)  # the same members again: fine


# -- Sending, reading flags ----------------------------------------------------------------------


@pytest.mark.django_db
def test_send_stores_rows_and_counts_each_value(alice, bob, wide, warm_content_types):
    sent = notifier.send("hi", [alice, bob], flags=[wide.ZERO, wide.TOP, Flag.STARRED])
    notifier.send("hi", User.objects.all(), flags=[wide.MINUS_SEVEN])  # the INSERT ... SELECT path
    notifier.send("hi {recipient.username}", [alice], flags=[wide.BOTTOM, wide.ZERO])  # per-row messages
    assert sorted(NotificationFlag.objects.filter(notification=sent[0].pk).values_list("value", flat=True)) == [
        0, 2**31 - 1,
    ]
    assert custom_counts(alice) == {"0": 2, str(2**31 - 1): 1, "-7": 1, str(-(2**31)): 1}
    assert custom_counts(bob) == {"0": 1, str(2**31 - 1): 1, "-7": 1}
    assert stats_of(alice).count(wide.ZERO) == 2 and stats_of(alice).count(wide.THOUSAND) == 0
    assert_stats_match_recount()


@pytest.mark.django_db
def test_what_send_returns_knows_its_flags_without_a_query(alice, bob, wide, warm_content_types,
                                                            django_assert_num_queries):
    sent = notifier.send("hi", [alice, bob], flags=[wide.ZERO, Flag.READ])
    by_query = notifier.send("hi", User.objects.all(), flags=[wide.THOUSAND])
    silent = notifier.send("hush", [alice], flags=[wide.MINUS_SEVEN], silent=True)
    with django_assert_num_queries(0):
        assert all(n.flags == {wide.ZERO, Flag.READ} for n in sent)
        assert all(n.has_flag(wide.THOUSAND) and not n.has_flag(wide.ZERO) for n in by_query)
        assert silent[0].flags == {wide.MINUS_SEVEN}
    # Once changed, a refresh reads the rows again.
    manager.change_flags(Notification.objects.filter(pk=sent[0].pk), remove=[wide.ZERO])
    first = sent[0]
    first.refresh_from_db()
    assert first.flags == {Flag.READ}


@pytest.mark.django_db
def test_the_preparation_pipeline_path_stores_flags_too(alice, bob, wide, settings):
    settings.INBOX = {"PREPARATION_PIPELINE": ["tests.pipelines.shout"]}
    sent = notifier.send("hello", [alice, bob], flags=[wide.TOP, wide.MINUS_SEVEN])
    assert all(n.flags == {wide.TOP, wide.MINUS_SEVEN} for n in sent)
    assert Notification.objects.flagged(wide.TOP).count() == 2
    assert custom_counts(alice) == {str(2**31 - 1): 1, "-7": 1}
    assert_stats_match_recount()


@pytest.mark.django_db
def test_a_page_with_prefetch_costs_the_same_whatever_its_size(alice, wide, django_assert_num_queries):
    for size in (3, 30):
        Notification.objects.all().delete()
        notifier.send("x", [alice], flags=[wide.ZERO])
        for i in range(size):
            [note] = notifier.send(f"n{i}", alice)
            manager.change_flags(Notification.objects.filter(pk=note.pk), add=[list(wide)[i % 5]])
        with django_assert_num_queries(2):  # the notifications, then all their flag rows
            page = list(Notification.objects.recipients([alice]).prefetch_related("custom_flag_rows")[:50])
            flags = [n.flags for n in page]
        assert len(page) == size + 1 and all(len(f) == 1 for f in flags)


# -- Filtering -----------------------------------------------------------------------------------


@pytest.fixture
def tagged(alice, bob, wide):
    """Four of alice's notifications, with flags, and one of bob's with all of them."""
    notes = {}
    for name, flags in {"zero": [wide.ZERO], "minus": [wide.MINUS_SEVEN], "both": [wide.ZERO, wide.TOP],
                        "read": [Flag.READ], "none": []}.items():
        [notes[name]] = notifier.send(name, [alice], flags=flags)
    notifier.send("bob's", [bob], flags=list(wide))
    return notes


def messages(queryset) -> set[str]:
    return set(queryset.values_list("message", flat=True))


@pytest.mark.django_db
def test_flagged_and_unflagged(alice, wide, tagged):
    mine = Notification.objects.recipients([alice])
    assert messages(mine.flagged(wide.ZERO)) == {"zero", "both"}
    assert messages(mine.flagged(wide.ZERO, wide.TOP)) == {"both"}
    assert messages(mine.flagged(0, 2**31 - 1)) == {"both"}  # plain ints too
    assert messages(mine.unflagged(wide.ZERO)) == {"minus", "read", "none"}
    assert messages(mine.unflagged(wide.ZERO, wide.MINUS_SEVEN, Flag.READ)) == {"none"}
    assert messages(mine.unflagged()) == {"zero", "minus", "both", "read", "none"}
    with pytest.raises(ValueError):
        mine.flagged(5)


@pytest.mark.django_db
def test_params_flags_are_or_within_and_and_between(alice, wide, tagged):
    mine = Notification.objects.recipients([alice])

    def found(text: str) -> set[str]:
        return messages(filter_queryset(mine, QueryDict(text)))

    assert found("flags=0,-7") == {"zero", "minus", "both"}
    assert found("flags=0,2") == {"zero", "both", "read"}
    assert found("flags=0&flags=2147483647") == {"both"}
    assert found("flags=-7,2&flags=-7") == {"minus"}
    assert found(f"flags={-(2**31)}") == set()
    for bad in ("flags=5", "flags=2147483648", "flags=0x10", "flags=" + "9" * 5000):
        with pytest.raises(BadParameter) as raised:
            filter_queryset(mine, QueryDict(bad))
        assert raised.value.name == "flags"


@pytest.mark.django_db
def test_custom_flags_of_one_group_are_one_exists(wide):
    query = filter_queryset(Notification.objects.all(), QueryDict("flags=0,-7,1000,2"))
    sql = str(query.query)
    assert sql.count("EXISTS") == 1 and "inbox_notificationflag" in sql


# -- Changing, deleting, publishing: Stats stay exact --------------------------------------------


@pytest.mark.django_db
def test_add_remove_and_specify_keep_stats_exact(alice, bob, wide, tagged):
    mine = Notification.objects.recipients([alice])
    assert manager.change_flags(mine, add=[wide.ZERO]) == 3  # zero and both had it
    assert custom_counts(alice)["0"] == 5
    assert manager.change_flags(mine, add=[wide.ZERO, wide.THOUSAND]) == 5
    assert manager.change_flags(mine.filter(message="both"), remove=[wide.ZERO, wide.TOP]) == 1
    assert manager.change_flags(mine.filter(message__in=["zero", "minus"]), specify=[wide.MINUS_SEVEN, Flag.STARRED]) == 2
    assert messages(mine.flagged(wide.MINUS_SEVEN)) == {"zero", "minus"}
    assert messages(mine.flagged(wide.THOUSAND)) == {"both", "read", "none"}
    assert messages(mine.flagged(wide.ZERO)) == {"read", "none"}
    assert custom_counts(alice) == {"0": 2, "1000": 3, "-7": 2}
    assert custom_counts(bob) == {str(v.value): 1 for v in wide}  # untouched
    assert_stats_match_recount()
    assert manager.change_flags(mine, add=[wide.THOUSAND], remove=[wide.BOTTOM]) == 2
    assert_stats_match_recount()


@pytest.mark.django_db
def test_scheduled_rows_are_counted_when_published(alice, wide):
    now = timezone.now()
    notifier.send("later", [alice], flags=[wide.MINUS_SEVEN], send_at=now + timedelta(minutes=5), now=now)
    manager.change_flags(Notification.objects.all(), add=[wide.THOUSAND])
    assert custom_counts(alice) == {}  # not visible, not counted
    assert_stats_match_recount()
    assert manager.publish_due(now=now + timedelta(minutes=10)) == 1
    assert custom_counts(alice) == {"-7": 1, "1000": 1}
    assert_stats_match_recount()


@pytest.mark.django_db
def test_delete_takes_the_counts_and_the_rows_away(alice, wide, tagged):
    assert manager.delete(Notification.objects.filter(message__in=["zero", "both"])) == 2
    assert custom_counts(alice) == {"-7": 1}
    assert not NotificationFlag.objects.filter(notification__message="both").exists()
    assert NotificationFlag.objects.count() == 1 + len(wide)
    assert_stats_match_recount()


@pytest.mark.django_db
def test_collect_stats_recounts_custom_flags(alice, wide, tagged):
    NotificationFlag.objects.filter(value=wide.ZERO).delete()  # bypasses the services
    assert custom_counts(alice)["0"] == 2
    manager.collect_stats([alice])
    assert custom_counts(alice) == {"-7": 1, str(2**31 - 1): 1}
    assert stats.recount()[(tagged["zero"].recipient_type_id, str(alice.pk))]["custom"] == custom_counts(alice)
    manager.collect_stats()
    assert_stats_match_recount()


@pytest.mark.django_db
def test_a_filter_that_reads_what_the_change_writes(alice, wide, tagged):
    """Regression: each write of a change must see the rows the caller's filter chose *before* it.

    Adding a custom flag and READ to "unread" ones: setting READ first would leave none to flag.
    Removing a flag from those "flagged" with it while adding READ: removing first would leave none to read.
    """
    mine = Notification.objects.recipients([alice])
    assert manager.change_flags(mine.unread().filter(message__in=["zero", "minus"]), add=[Flag.READ, wide.THOUSAND]) == 2
    assert messages(mine.flagged(wide.THOUSAND)) == {"zero", "minus"}
    assert manager.change_flags(mine.flagged(wide.ZERO), remove=[wide.ZERO], add=[Flag.STARRED]) == 2
    assert messages(mine.starred()) == {"zero", "both"} and not mine.flagged(wide.ZERO).exists()
    assert manager.change_flags(mine.unflagged(wide.TOP), add=[wide.TOP, Flag.ARCHIVED]) == 4
    assert messages(mine.archived()) == {"zero", "minus", "read", "none"}
    assert manager.change_flags(mine.flagged(wide.TOP), specify=[wide.MINUS_SEVEN]) == 5
    assert messages(mine.flagged(wide.MINUS_SEVEN)) == {"zero", "minus", "both", "read", "none"}
    assert_stats_match_recount()


@pytest.mark.django_db
def test_only_changed_rows_get_a_new_updated_at(alice, wide, tagged):
    before = dict(Notification.objects.values_list("message", "updated_at"))
    later = timezone.now() + timedelta(hours=1)
    mine = Notification.objects.recipients([alice])
    assert manager.change_flags(mine, add=[wide.ZERO], now=later) == 3
    after = dict(Notification.objects.values_list("message", "updated_at"))
    assert {m for m in after if after[m] != before[m]} == {"minus", "read", "none"}
    # A filter on updated_at itself (read by the first statement of a custom change) still works.
    assert manager.change_flags(mine.filter(updated_at=later), add=[Flag.STARRED, wide.THOUSAND], now=later) == 3
    assert messages(mine.flagged(wide.THOUSAND)) == messages(mine.starred()) == {"minus", "read", "none"}
    assert_stats_match_recount()


@pytest.mark.django_db
def test_change_flags_query_counts(alice, bob, wide, warm_content_types, django_assert_num_queries):
    users = [alice, bob, *User.objects.bulk_create([User(username=f"u{i}") for i in range(20)])]
    notifier.send("x", users)
    notifier.send("y", users)
    everyone = Notification.objects.all()
    # keys, savepoint, lock, states, UPDATE updated_at, INSERT flag rows, read + write Stats.custom, release
    with django_assert_num_queries(9):
        assert manager.change_flags(everyone, add=[wide.ZERO]) == 44
    # keys, savepoint, lock, states, flag counts, UPDATE, DELETE flag rows, read + write Stats.custom, release
    with django_assert_num_queries(10):
        assert manager.change_flags(everyone, remove=[wide.ZERO]) == 44
    # as before plus the built-in UPDATE and the Stats counters upsert
    with django_assert_num_queries(12):
        assert manager.change_flags(everyone, add=[wide.ZERO, Flag.STARRED]) == 44
    # keys, savepoint, lock, three UPDATEs (read & seen / read only / seen only), Stats upsert, release;
    # MySQL/MariaDB: states, then one UPDATE (an UPDATE there cannot return rows)
    with django_assert_num_queries(8 if counted_update.supported(connection.alias) else 7):
        assert manager.mark_read(everyone) == 44
    assert_stats_match_recount()


@pytest.mark.django_db
def test_send_query_counts(db, wide, warm_content_types, django_assert_num_queries):
    users = User.objects.bulk_create([User(username=f"user{i}") for i in range(300)])
    users = list(User.objects.all())
    for recipients in (users[:3], users):
        # savepoint, insert, flag rows, Stats upsert, read + write Stats.custom, release
        with django_assert_num_queries(7):
            notifier.send("flagged", recipients, flags=[wide.ZERO, wide.TOP])
    with django_assert_num_queries(4):  # no custom flags: exactly as before
        notifier.send("plain", users)
    assert_stats_match_recount()


# -- Migrating the old bits ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_bits_into_rows_and_back(alice):
    from django.db.migrations.executor import MigrationExecutor

    a, b, c = (notifier.send(f"m{i}", [alice])[0] for i in range(3))
    executor = MigrationExecutor(connection)
    executor.migrate([("inbox", "0002_delivery")])
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for note, bits in ((a, 0), (b, (1 << 5) | (1 << 62)), (c, 1 << 10)):
            cursor.execute(
                f"UPDATE {quote('inbox_notification')} SET {quote('custom_flags')} = %s WHERE {quote('id')} = %s",
                [bits, note.pk],
            )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("inbox", "0003_notificationflag")])
    rows = sorted(NotificationFlag.objects.values_list("notification_id", "value"))
    assert rows == sorted([(b.pk, 5), (b.pk, 62), (c.pk, 10)])
    NotificationFlag.objects.create(notification_id=a.pk, value=-7)  # no bit can hold it
    executor = MigrationExecutor(connection)
    executor.migrate([("inbox", "0002_delivery")])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote('id')}, {quote('custom_flags')} FROM {quote('inbox_notification')}")
        assert dict(cursor.fetchall()) == {a.pk: 0, b.pk: (1 << 5) | (1 << 62), c.pk: 1 << 10}
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert sorted(NotificationFlag.objects.values_list("notification_id", "value")) == rows


# -- PostgreSQL: the filter is an index lookup ---------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_flags_filter_for_one_recipient_uses_the_flag_index(wide, is_postgres):
    assert is_postgres
    users = User.objects.bulk_create([User(username=f"p{i}") for i in range(200)])
    for i in range(100):
        notifier.send(f"n{i}", User.objects.all())
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Every notification has a flag; one in ten also has 1000.
        cursor.execute(
            f"INSERT INTO {quote('inbox_notificationflag')} (notification_id, value) "
            f"SELECT id, CASE WHEN id % 10 = 0 THEN 1000 ELSE 0 END FROM {quote('inbox_notification')}"
        )
        cursor.execute("ANALYZE")
    one = Notification.objects.recipients([users[7]])
    query = filter_queryset(one, QueryDict("flags=1000,-7&flags=1000,2"))
    plan = query.explain()
    assert "inbox_flag_unique" in plan or "inbox_flag_value" in plan, plan
    assert "Seq Scan on inbox_notificationflag" not in plan, plan
    assert query.count() == len([n for n in one.values_list("pk", flat=True) if n % 10 == 0])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_custom_counts_exact(is_postgres):
    from tests.test_concurrency import run_together

    assert is_postgres
    Notification.flags_registry.add(Wide)
    try:
        alice = User.objects.create(username="alice")
        bob = User.objects.create(username="bob")
        notifier.send("seed", [alice, bob], flags=[Wide.ZERO])

        def sender() -> None:
            for i in range(40):
                flags = [Wide.ZERO, Wide.TOP] if i % 2 else [Wide.MINUS_SEVEN]
                notifier.send(f"n{i}", [alice, bob] if i % 3 else User.objects.all(), flags=flags)

        def flagger() -> None:
            for i in range(40):
                mine = Notification.objects.recipients([alice, bob])
                if i % 3 == 0:
                    manager.change_flags(mine.unflagged(Wide.TOP), add=[Wide.TOP, Flag.READ])
                elif i % 3 == 1:
                    manager.change_flags(mine.flagged(Wide.ZERO).order_by("?")[:3], remove=[Wide.ZERO])
                else:
                    manager.change_flags(mine.order_by("-pk")[:4], specify=[Wide.THOUSAND])

        def deleter() -> None:
            for _ in range(30):
                manager.delete(Notification.objects.recipients([bob]).order_by("?")[:1])
                manager.change_flags(Notification.objects.recipients([alice]), add=[Wide.BOTTOM])

        run_together(sender, flagger, deleter)
        assert NotificationFlag.objects.exists()
        assert_stats_match_recount()
    finally:
        Notification.flags_registry.remove(Wide)


def test_a_filter_across_a_join_counts_each_notification_once(alice, bob, wide):
    """Regression: a notification matched twice through a join (two of its flag rows) was counted
    twice in Stats, though changed or deleted once."""
    notifier.send("both", [alice], flags=[wide.ZERO, wide.THOUSAND])
    notifier.send("one", [alice], flags=[wide.ZERO])
    notifier.send("none", [alice, bob])
    through_rows = Notification.objects.filter(custom_flag_rows__value__in=[wide.ZERO, wide.THOUSAND])
    assert manager.change_flags(through_rows, add=[Flag.READ, wide.MINUS_SEVEN]) == 2
    assert stats_of(alice).read == 2 and custom_counts(alice)[str(wide.MINUS_SEVEN.value)] == 2
    assert_stats_match_recount()
    assert manager.delete(Notification.objects.filter(custom_flag_rows__value__in=[wide.ZERO, wide.MINUS_SEVEN])) == 2
    assert stats_of(alice).total == 1
    assert_stats_match_recount()


def test_flags_a_pipeline_step_gives_are_stored_as_counted(alice, wide, settings):
    """Regression: Stats counted a step's flags while no flag row was written."""
    settings.INBOX = {"PREPARATION_PIPELINE": ["tests.pipelines.flag_thousand"]}
    notifier.send("a", [alice])
    assert Notification.objects.flagged(wide.THOUSAND).count() == 1
    assert custom_counts(alice) == {"1000": 1}
    assert_stats_match_recount()


def test_built_in_flags_of_a_loaded_row_cost_no_query(alice, wide, django_assert_num_queries):
    notifier.send("read", [alice], flags=[Flag.READ])
    [loaded] = Notification.objects.all()
    with django_assert_num_queries(0):
        assert loaded.has_flag(Flag.READ) and not loaded.has_flag(Flag.STARRED)
    Notification.flags_registry.remove(wide)
    try:
        with django_assert_num_queries(0):  # no site flags registered: nothing to read
            assert loaded.flags == {Flag.READ}
    finally:
        Notification.flags_registry.add(wide)
