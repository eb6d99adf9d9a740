"""The ``send_digests`` task on Django's Tasks API: what a site's scheduler enqueues.

Digests go out when their windows end, so something has to look regularly: enqueue this task
every few minutes (a cron job calling :func:`enqueue`, a periodic job of your worker), or run
``manage.py inbox_send_digests`` from cron instead. Runs may overlap: each window is claimed
once (see :mod:`inbox.channels.digests`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils.dateparse import parse_datetime

from inbox import conf
from inbox.channels import digests

try:  # Django 6 ships the Tasks API; on 5.2 the django-tasks backport provides the same one.
    from django.tasks import task  # type: ignore[import-not-found,import-untyped,unused-ignore]
except ImportError:
    from django_tasks import task

logger = logging.getLogger("inbox.channels")


@task()
def send_digests(now: str | None = None, limit: int | None = None) -> int:
    """Send every digest that is due (``now``: an ISO 8601 time, for tests); how many went out.
    Arguments are JSON, as task arguments must be."""
    try:
        when = parse_datetime(now) if now else None
    except ValueError:  # well formed, but no such day or hour
        when = None
    if now and (when is None or when.tzinfo is None):
        raise ValueError(f"now must be an ISO 8601 time with its offset, not {now!r}.")
    return digests.send_due_digests(when, limit=limit)


def enqueue(**kwargs: Any) -> Any:
    """Enqueue :func:`send_digests` on ``INBOX["TASK_BACKEND"]``; the task's result handle."""
    return send_digests.using(backend=conf.get("TASK_BACKEND")).enqueue(**kwargs)
