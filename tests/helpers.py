"""Assertions shared by the tests."""

from __future__ import annotations

from typing import Any

from inbox import stats
from inbox.models import Stats


def stats_rows() -> dict[tuple[int, str], dict[str, Any]]:
    return {
        (row.recipient_type_id, row.recipient_id): {**{name: getattr(row, name) for name in stats.COUNTERS}, "custom": row.custom}
        for row in Stats.objects.all()
    }


def assert_stats_match_recount() -> None:
    """Every Stats row equals a fresh count; recipients without notifications count zero."""
    cached = stats_rows()
    fresh = stats.recount()
    zero = {**dict.fromkeys(stats.COUNTERS, 0), "custom": {}}
    for key in set(cached) | set(fresh):
        assert cached.get(key, zero) == fresh.get(key, zero), key
