"""Flag changes that learn the old states from the UPDATE itself (inbox.services.counted_update)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox.flags import Flag
from inbox.models import Notification
from inbox.services import counted_update, manager, notifier
from tests.helpers import assert_stats_match_recount

pytestmark = pytest.mark.django_db


def mixed_inbox(user, other) -> None:
    """Every combination of the built-in flags, published and scheduled, for two recipients."""
    for flags in ([], [Flag.SEEN], [Flag.READ, Flag.SEEN], [Flag.ARCHIVED], [Flag.STARRED],
                  [Flag.SEEN, Flag.ARCHIVED, Flag.STARRED], [Flag.READ]):
        notifier.send("n", [user, other], flags=flags)
    notifier.send("later", [user, other], send_at=timezone.now() + timedelta(days=1))


@pytest.mark.parametrize(
    ("add", "remove"),
    [
        ([Flag.READ], []),  # with read_implies_seen: two flags, three UPDATEs
        ([Flag.SEEN], []),
        ([Flag.ARCHIVED], []),
        ([], [Flag.ARCHIVED]),
        ([Flag.STARRED], [Flag.SEEN]),
        ([Flag.ARCHIVED, Flag.STARRED], [Flag.READ]),
    ],
)
def test_counts_match_a_recount_for_every_old_state(alice, bob, add, remove):
    mixed_inbox(alice, bob)
    assert manager.change_flags(Notification.objects.all(), add=add, remove=remove) > 0
    assert_stats_match_recount()


def test_archived_rows_stay_out_of_unread_when_read(alice, bob):
    """Guards the SQLite workaround: 3.40 returned "archived_at IS NOT NULL" as 1 for a NULL column
    from UPDATE ... RETURNING, so reading unarchived rows left their unread count in place."""
    mixed_inbox(alice, bob)
    manager.mark_all_read(alice)
    assert_stats_match_recount()


def test_mark_all_read_reads_no_states_before_updating(alice, django_assert_num_queries):
    for _ in range(3):
        notifier.send("n", [alice])
    with CaptureQueriesContext(connection) as queries:
        assert manager.mark_all_read(alice) == 3
    statements = [q["sql"] for q in queries.captured_queries]
    reads_states = any(sql.startswith("SELECT") and "COUNT(" in sql.upper() for sql in statements)
    if counted_update.supported(connection.alias):
        # Recipients, lock, three UPDATEs (read & seen / read only / seen only), the Stats delta.
        assert not reads_states
        assert sum(sql.startswith(("UPDATE", "WITH")) for sql in statements) == 3
    else:
        # MySQL/MariaDB cannot return rows from an UPDATE: the states are read first, then one UPDATE.
        assert reads_states
        assert sum(sql.startswith("UPDATE") for sql in statements) == 1
    assert_stats_match_recount()
