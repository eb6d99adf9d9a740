"""Stats stay equal to a fresh recount, whatever sequence of writes; reading them costs one query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import models
from django.db.models.functions import Cast
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from inbox import stats
from inbox.flags import Flag
from inbox.models import Notification, Stats
from inbox.services import manager, notifier
from tests.conftest import Priority
from tests.helpers import assert_stats_match_recount
from tests.test_flags_any_value import Wide

#: Built-ins, and custom flags inside and outside the old 5-62 range.
FLAGS = [Flag.SEEN, Flag.READ, Flag.ARCHIVED, Flag.STARRED, Priority.URGENT, Priority.PINNED,
         Wide.ZERO, Wide.MINUS_SEVEN, Wide.TOP]
CUSTOM = [flag for flag in FLAGS if not isinstance(flag, Flag)]


@pytest.mark.django_db
def test_badge_count_is_one_query(alice, warm_content_types, django_assert_num_queries):
    notifier.send("one", alice)
    notifier.send("two", alice)
    with django_assert_num_queries(1):
        stats = Stats.objects.recipients([alice]).first()
    assert stats.unread == 2


@pytest.mark.django_db
def test_stats_of_a_queryset_is_one_query(alice, warm_content_types, django_assert_num_queries):
    notifier.send("one", alice)
    with django_assert_num_queries(1):
        assert Stats.objects.recipients(User.objects.filter(pk=alice.pk)).get().total == 1


class StatsMachine(RuleBasedStateMachine):
    """Random sends, flag changes, deletes and scheduled-becomes-due over a few recipients."""

    @initialize()
    def setup(self) -> None:
        # Every example starts from an empty inbox, so replays draw the same data.
        Notification.objects.all().delete()
        Stats.objects.all().delete()
        User.objects.all().delete()
        Notification.flags_registry.add(Priority)
        Notification.flags_registry.add(Wide)
        self.users = [User.objects.create(username=f"user{i}") for i in range(3)]
        self.clock = timezone.now()

    def teardown(self) -> None:
        Notification.flags_registry.remove(Priority)
        Notification.flags_registry.remove(Wide)

    def pick(self, data: st.DataObject) -> list[User]:
        return data.draw(st.lists(st.sampled_from(self.users), min_size=1, max_size=3))

    def some_notifications(self, data: st.DataObject, most: int) -> list[int]:
        pks = list(Notification.objects.order_by("pk").values_list("pk", flat=True))
        positions = data.draw(st.lists(st.integers(0, 1000), min_size=1, max_size=most))
        return [pks[position % len(pks)] for position in positions]

    @rule(
        data=st.data(),
        flags=st.lists(st.sampled_from(FLAGS), max_size=3, unique=True),
        form=st.sampled_from(["list", "queryset", "sliced", "unwelcomed"]),
        # A fixed message lets a QuerySet take the INSERT ... SELECT path; naming the recipient
        # forces the per-row path. Both must keep Stats exact.
        message=st.sampled_from(["hello", "hello {recipient}"]),
        batch_size=st.sampled_from([1, 2, 1000]),
        delay=st.sampled_from([None, None, 30, 90]),
    )
    def send(self, data, flags, form, message, batch_size, delay) -> None:
        chosen = self.pick(data)
        recipients: object = chosen
        if form == "queryset":
            recipients = User.objects.filter(pk__in=[u.pk for u in chosen])
        elif form == "sliced":
            recipients = User.objects.order_by("?")[: len(chosen)]
        elif form == "unwelcomed":  # a filter that the insert itself changes
            recipients = User.objects.exclude(pk__in=welcomed())
            message = "welcome"
        send_at = self.clock + timedelta(minutes=delay) if delay else None
        notifier.send(message, recipients, flags=flags, send_at=send_at, now=self.clock, batch_size=batch_size,
                      category="welcome" if form == "unwelcomed" else "")

    @precondition(lambda self: Notification.objects.exists())
    @rule(
        data=st.data(),
        add=st.lists(st.sampled_from(FLAGS), max_size=2, unique=True),
        remove=st.lists(st.sampled_from(FLAGS), max_size=2, unique=True),
        specify=st.lists(st.sampled_from(FLAGS), max_size=2, unique=True),
        # Filters that read what the change writes (flags, read_at, updated_at) must still choose
        # the rows they chose before it.
        scope=st.sampled_from(["pks", "unread", "flagged", "unflagged", "touched"]),
        flag=st.sampled_from(CUSTOM),
    )
    def change_flags(self, data, add, remove, specify, scope, flag) -> None:
        chosen = self.some_notifications(data, 5)
        remove = [flag for flag in remove if flag not in add]
        queryset = Notification.objects.filter(pk__in=chosen)
        if scope == "unread":
            queryset = queryset.unread()
        elif scope == "flagged":
            queryset = queryset.flagged(flag)
        elif scope == "unflagged":
            queryset = queryset.unflagged(flag)
        elif scope == "touched":
            queryset = queryset.filter(updated_at__lte=self.clock)
        manager.change_flags(queryset, add=add, remove=remove, specify=specify)

    @precondition(lambda self: Notification.objects.exists())
    @rule(data=st.data())
    def delete(self, data) -> None:
        chosen = self.some_notifications(data, 3)
        manager.delete(Notification.objects.filter(pk__in=chosen))

    @rule(data=st.data())
    def mark_all_read(self, data) -> None:
        manager.mark_all_read(data.draw(st.sampled_from(self.users)))

    @rule(minutes=st.sampled_from([10, 60, 120]))
    def time_passes_and_due_ones_publish(self, minutes) -> None:
        self.clock += timedelta(minutes=minutes)
        manager.publish_due(now=self.clock, batch_size=2)

    @invariant()
    def stats_equal_a_fresh_recount(self) -> None:
        if hasattr(self, "users"):
            assert_stats_match_recount()

    @invariant()
    def stats_equal_what_the_querysets_list(self) -> None:
        """Visible and counted agree: the badge counts exactly what the pages list."""
        for user in getattr(self, "users", []):
            counts = stats.counts_for([user])
            visible = Notification.objects.recipients([user]).visible()
            assert (counts.total, counts.unread, counts.unseen) == (
                visible.count(), visible.unread().count(), visible.unseen().count()
            )


def welcomed():
    """Users who already have a "welcome" notification (recipient ids are stored as text)."""
    return Notification.objects.filter(category="welcome").annotate(
        user_pk=Cast("recipient_id", output_field=models.BigIntegerField())
    ).values("user_pk")


@pytest.mark.django_db
def test_stats_equal_a_recount_after_any_sequence_of_writes(settings):
    settings.INBOX = {"CHANGE_BATCH_SIZE": 2}  # flag changes and deletes span several batches
    run_state_machine_as_test(
        StatsMachine,
        settings=hypothesis_settings(
            max_examples=30,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
