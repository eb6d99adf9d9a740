"""How a delivery goes out: the ``deliver`` task on Django's Tasks API.

A task is given one batch id. It claims the batch's due, pending rows with one UPDATE (so the
same task run twice, even at once, sends each delivery once), builds each payload through the
channel, hands them to the provider's ``send_bulk()`` in one call, and records what happened.
A failure worth another try waits DELIVERY_BACKOFF seconds, doubling per attempt, up to
DELIVERY_MAX_ATTEMPTS; then the delivery is failed for good.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from inbox import conf
from inbox.channels import registry
from inbox.channels.base import DeliveryError, SkipDelivery
from inbox.channels.deliveries import notification_of
from inbox.models import Delivery

try:  # Django 6 ships the Tasks API; on 5.2 the django-tasks backport provides the same one.
    from django.tasks import task, task_backends  # type: ignore[import-not-found,import-untyped,unused-ignore]
except ImportError:
    from django_tasks import task, task_backends

logger = logging.getLogger("inbox.channels")

Status = Delivery.Status


def backend() -> Any:
    return task_backends[conf.get("TASK_BACKEND")]


@task()
def deliver(batch: str) -> dict[str, int]:
    """Deliver batch ``batch`` (a Delivery.batch id); return how many rows ended in each status."""
    return run(uuid.UUID(batch))


def enqueue(batches: Iterable[uuid.UUID], run_after: datetime | None = None) -> None:
    """One task per batch. A broker that is down never breaks the caller: the rows stay pending
    for ``manage.py inbox_deliver``."""
    if run_after is not None and run_after.microsecond:
        # RQ keeps a job's time in whole seconds and may start it at the start of that second,
        # before its rows are due: round up so a task never starts early.
        run_after = run_after.replace(microsecond=0) + timedelta(seconds=1)
    task_ = deliver.using(backend=conf.get("TASK_BACKEND"), run_after=run_after)
    # One transaction for a database backend's rows (one commit, not one per task), a savepoint
    # each so one that fails does not take the others with it; but not around a backend that runs
    # the task right here, which would hold the transaction open while it talks to SMTP.
    runs_inline = getattr(backend(), "supports_defer", False) is False
    with nullcontext() if runs_inline else transaction.atomic():
        for batch in batches:
            try:
                with transaction.atomic():
                    task_.enqueue(str(batch))
            except Exception:
                logger.exception("Could not enqueue delivery batch %s; `manage.py inbox_deliver` will send it.", batch)


def _due(now: datetime) -> Any:
    return Delivery.objects.filter(status=Status.PENDING, due_at__lte=now).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def due_batches(now: datetime | None = None) -> list[uuid.UUID]:
    return list(_due(now or timezone.now()).values_list("batch", flat=True).distinct())


def claim(batch: uuid.UUID | None, now: datetime, limit: int | None = None) -> uuid.UUID | None:
    """Take the due, pending, unheld rows of ``batch`` (any batch for None, at most ``limit``);
    the claim's id, or None when there was nothing to take."""
    token = uuid.uuid4()
    due = _due(now)
    if batch is not None:
        due = due.filter(batch=batch)
    if limit is not None:
        # An UPDATE cannot be sliced everywhere: pick the keys, then re-check them in the UPDATE.
        due = _due(now).filter(pk__in=list(due.order_by("due_at", "pk").values_list("pk", flat=True)[:limit]))
    taken = due.update(
        claim=token, claimed_until=now + timedelta(seconds=conf.get("DELIVERY_LEASE")),
        attempts=F("attempts") + 1, updated_at=now,
    )
    return token if taken else None


def run(batch: uuid.UUID | None, *, now: datetime | None = None, limit: int | None = None) -> dict[str, int]:
    """Deliver what is due in ``batch`` (any batch for None, at most ``limit`` rows); the count per status."""
    now = now or timezone.now()
    token = claim(batch, now, limit)
    if token is None:
        if batch is not None:
            _requeue_early(batch, now)
        return {}
    rows = list(Delivery.objects.filter(claim=token).select_related("notification"))
    recipients = _recipients(rows)
    routes: dict[tuple[str, str, str], list[Delivery]] = defaultdict(list)
    for row in _still_wanted(rows, now):
        routes[(row.channel, row.provider, json.dumps(row.context, sort_keys=True))].append(row)
    for (channel_name, provider_name, _context), group in routes.items():
        _deliver(channel_name, provider_name, group, recipients, now)
    retry_at = [row.due_at for row in rows if row.status == Status.PENDING]
    _save(rows, now)
    if retry_at and batch is not None:
        if backend().supports_defer:
            enqueue([batch], min(retry_at))
        else:
            logger.info("Delivery batch %s will be retried by `manage.py inbox_deliver` "
                        "(the %s task backend cannot run a task later).", batch, type(backend()).__name__)
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.status] += 1
    return dict(counts)


def _still_wanted(rows: list[Delivery], now: datetime) -> list[Delivery]:
    """The rows whose recipient still wants them: send() decided, but a countdown, a retry or the
    admin's "Retry" may come after the person turned the category or channel off (one query)."""
    from inbox.services import preferences

    categories = {notification_of(row).category for row in rows}
    decisions = preferences.decide_many(
        [(row.recipient_type_id, row.recipient_id) for row in rows], categories, {row.channel for row in rows}, now,
        schedules=False,
    )
    wanted = []
    for row in rows:
        if decisions.enabled((row.recipient_type_id, row.recipient_id), row.channel, notification_of(row).category):
            wanted.append(row)
        else:
            _finish(row, now, skipped=preferences.skipped_reason())
    return wanted


def _save(rows: list[Delivery], now: datetime) -> None:
    """Write what happened: one UPDATE per outcome (a batch is mostly one: all sent), and the
    provider message ids, which differ per row, only where there are some."""
    outcomes: dict[tuple[str, str, datetime, datetime | None], list[int]] = defaultdict(list)
    for row in rows:
        outcomes[(row.status, row.last_error, row.due_at, row.sent_at)].append(row.pk)
    for (status, last_error, due_at, sent_at), pks in outcomes.items():
        Delivery.objects.filter(pk__in=pks).update(
            status=status, last_error=last_error, due_at=due_at, sent_at=sent_at,
            claim=None, claimed_until=None, updated_at=now,
        )
    with_ids = [row for row in rows if row.provider_message_id]
    if with_ids:
        Delivery.objects.bulk_update(with_ids, ["provider_message_id"], batch_size=500)


def _requeue_early(batch: uuid.UUID, now: datetime) -> None:
    """A task that started before its rows were due (a backend that rounds times) comes back
    when they are, rather than leaving them for ``inbox_deliver``."""
    later = (Delivery.objects.filter(batch=batch, status=Status.PENDING, due_at__gt=now)
             .order_by("due_at").values_list("due_at", flat=True).first())
    if later is not None and backend().supports_defer:
        enqueue([batch], later)


def _recipients(rows: list[Delivery]) -> dict[tuple[int, str], Any]:
    """Every recipient of ``rows``, one query per recipient model."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        wanted[row.recipient_type_id].add(row.recipient_id)
    found: dict[tuple[int, str], Any] = {}
    for type_id, keys in wanted.items():
        model = ContentType.objects.get_for_id(type_id).model_class()
        if model is None:
            continue
        for pk, obj in model._default_manager.in_bulk(list(keys)).items():
            found[(type_id, str(pk))] = obj
    return found


def _deliver(channel_name: str, provider_name: str, rows: list[Delivery], recipients: dict[tuple[int, str], Any],
             now: datetime) -> None:
    try:
        channel = registry.channel(channel_name, rows[0].context)
        provider = registry.provider(provider_name)
    except KeyError as error:
        for row in rows:
            _finish(row, now, error=DeliveryError(f"{error} is not registered any more", retry=False))
        return
    payloads, sending = [], []
    for row in rows:
        recipient = recipients.get((row.recipient_type_id, row.recipient_id))
        if recipient is None:
            _finish(row, now, skipped="the recipient no longer exists")
            continue
        notification = notification_of(row)
        notification.recipient = recipient
        try:
            payloads.append(channel.build_payload(notification, provider))
        except SkipDelivery as reason:
            _finish(row, now, skipped=str(reason))
        except Exception as error:  # a bug in a channel: no retry would fix it
            logger.exception("Channel %r could not build a payload for delivery %s.", channel_name, row.pk)
            _finish(row, now, error=DeliveryError(f"{type(error).__name__}: {error}", retry=False))
        else:
            sending.append(row)
    if not sending:
        return
    try:
        outcomes = list(provider.send_bulk(payloads))
        if len(outcomes) != len(sending):
            raise RuntimeError(f"{type(provider).__name__}.send_bulk() returned {len(outcomes)} outcomes "
                               f"for {len(sending)} payloads")
    except Exception as error:
        outcomes = [error] * len(sending)
    failures = 0
    for row, outcome in zip(sending, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            failures += 1
            _finish(row, now, error=outcome)
        else:
            _finish(row, now, message_id=outcome)
    if failures:
        first = next(o for o in outcomes if isinstance(o, BaseException))
        logger.warning("%d of %d deliveries through %s/%s failed; the first: %s: %s", failures, len(sending),
                       channel_name, provider_name, type(first).__name__, first)


def backoff(attempts: int) -> timedelta:
    """The wait after ``attempts`` failed tries: DELIVERY_BACKOFF doubled each time, capped."""
    seconds = conf.get("DELIVERY_BACKOFF") * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, conf.get("DELIVERY_BACKOFF_MAX")))


def _finish(row: Delivery, now: datetime, *, message_id: str | None = None, skipped: str | None = None,
            error: BaseException | None = None) -> None:
    row.claim = None
    row.claimed_until = None
    row.updated_at = now
    if skipped is not None:
        row.status, row.last_error = Status.SKIPPED, skipped
    elif error is not None:
        row.last_error = f"{type(error).__name__}: {error}"[:2000]
        retry = error.retry if isinstance(error, DeliveryError) else True
        if retry and row.attempts < conf.get("DELIVERY_MAX_ATTEMPTS"):
            row.status, row.due_at = Status.PENDING, now + backoff(row.attempts)
        else:
            row.status = Status.FAILED
    else:
        row.status, row.sent_at, row.last_error = Status.SENT, now, ""
        row.provider_message_id = (message_id or "")[:255]
