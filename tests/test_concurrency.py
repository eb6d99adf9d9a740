"""Concurrent writers on a real PostgreSQL: Stats end equal to a recount, due notifications publish once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import close_old_connections, connection
from django.utils import timezone

from inbox.models import Notification
from inbox.services import manager, notifier
from tests.helpers import assert_stats_match_recount

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(*jobs: Callable[[], object]) -> list[object]:
    """Start every job at the same moment in its own thread (and connection); re-raise any error."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)
    errors: list[BaseException] = []

    def worker(index: int, job: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = job()
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    if errors:
        raise errors[0]
    return results


def test_sending_and_marking_read_at_once(is_postgres):
    assert is_postgres
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    notifier.send("seed", [alice, bob])

    def sender() -> None:
        for i in range(60):
            notifier.send(f"n{i}", [alice, bob] if i % 2 else User.objects.all())

    def reader() -> None:
        for i in range(60):
            if i % 3:
                manager.mark_all_read(alice)
            else:
                manager.mark_unread(Notification.objects.recipients([alice]).order_by("-pk")[:3])

    def archiver() -> None:
        for _ in range(40):
            manager.archive(Notification.objects.recipients([alice, bob]).order_by("?")[:2])
            manager.delete(Notification.objects.recipients([bob]).order_by("pk")[:1])

    run_together(sender, reader, archiver)
    assert Notification.objects.count() > 60
    assert_stats_match_recount()


def test_two_publishers_publish_each_due_notification_once(is_postgres):
    assert is_postgres
    users = User.objects.bulk_create([User(username=f"u{i}") for i in range(20)])
    past = timezone.now() - timedelta(minutes=5)
    for i in range(5):
        notifier.send(f"scheduled {i}", User.objects.all(), send_at=past + timedelta(seconds=i), now=past - timedelta(minutes=1))
    assert Notification.objects.filter(is_published=False).count() == 100

    published = run_together(
        lambda: manager.publish_due(batch_size=7),
        lambda: manager.publish_due(batch_size=7),
        lambda: manager.publish_due(batch_size=7),
    )
    # Another publisher may have skipped rows it found locked; one more run picks up any left.
    published.append(manager.publish_due())
    assert sum(published) == 100
    assert not Notification.objects.filter(is_published=False).exists()
    assert_stats_match_recount()
    assert len(users) == 20


def test_a_group_whose_members_change_during_a_broadcast(is_postgres):
    """Members join and leave while a paged broadcast runs: Stats count exactly the rows inserted."""
    from django.contrib.auth.models import Group

    assert is_postgres
    group = Group.objects.create(name="everyone")
    users = User.objects.bulk_create([User(username=f"member{i}") for i in range(400)])
    group.user_set.add(*users[:300])

    def broadcaster() -> None:
        for i in range(15):
            notifier.send(f"news {i}", group, batch_size=37)

    def churner() -> None:
        for i in range(60):
            joining, leaving = users[300 + i % 100], users[i * 5 % 300]
            group.user_set.add(joining)
            group.user_set.remove(leaving)

    run_together(broadcaster, churner)
    assert Notification.objects.count() > 0
    assert_stats_match_recount()
