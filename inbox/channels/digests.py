"""Sending digests: a recipient's waiting deliveries on one channel, one message per window.

``send()`` parks a delivery bound for a digest as a ``Delivery`` with status ``digest`` and
``due_at`` = the end of the recipient's window (see :mod:`inbox.channels.windows`).
:func:`send_due_digests` (run by ``manage.py inbox_send_digests`` or the ``send_digests`` task)
sends what is due, in batches of :data:`WINDOWS_PER_BATCH` windows, a constant number of
queries per batch whatever the number of deliveries in it:

1. **Claim.** One ``INSERT`` of a ``Digest`` row per window, ignoring conflicts: the unique
   constraint on (recipient, channel, provider, window end) lets one runner in, however many run
   at once. The row's ``claim`` is the runner's token, so it reads back
   which rows are its own. A claim older than ``DELIVERY_LEASE`` (a runner that
   died) is taken over, as delivery tasks do: at least once across a crash, never twice otherwise.
2. **Check.** Preferences are read again (``preferences.decide_many``: one query for the batch): a category × channel turned
   off since the notification was sent makes its deliveries *skipped*.
3. **Send.** One payload per window. E-mail renders ``inbox/email/digest_subject.txt``,
   ``digest_body.txt`` and ``digest_body.html`` (notifications grouped by category, in the
   registry's order) with RFC 8058 one-click unsubscribe headers for the whole channel; any
   other provider gets the payload its channel builds for one summary notification
   ("3 notifications: …"), with ``context["digest"]`` listing the notifications' ids.
4. **Record.** The deliveries become sent (with the message's id) or failed; then the
   ``Digest`` row says what happened. A failure worth another try (the mail server is down)
   puts the deliveries back as ``digest`` rows due after the usual backoff: a later run sends
   them as a new digest (a new ``Digest`` row), up to ``DELIVERY_MAX_ATTEMPTS`` attempts.
   A window where nothing was left to send (all skipped) keeps no ``Digest`` row.

A delivery that reaches an already finished window (its transaction committed after the digest
went out) moves to the recipient's next window rather than being lost or sent twice.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inbox import categories, conf, shortcodes
from inbox.channels import registry, site, windows
from inbox.channels.base import Channel, DeliveryError, Provider, SkipDelivery
from inbox.channels.deliveries import notification_of
from inbox.channels.email import EmailProvider
from inbox.models import Delivery, Digest, DigestSchedule, Frequency, Notification

logger = logging.getLogger("inbox.channels")

Status = Delivery.Status

#: Windows (recipient × channel × provider × window end) claimed and sent per batch.
WINDOWS_PER_BATCH = 100
#: Notifications listed in one digest e-mail (the newest); the rest are counted ("and 12 more").
SHOWN_ITEMS = 100
#: Messages quoted in the summary notification of a non-e-mail digest.
SUMMARY_ITEMS = 5

WindowKey = tuple[int, str, str, str, datetime]  # recipient type id, recipient id, channel, provider, end


@dataclass
class _Window:
    digest: Digest
    rows: list[Delivery] = field(default_factory=list)
    #: Rows sent in the digest (the others were skipped before it was built).
    kept: list[Delivery] = field(default_factory=list)
    skipped: dict[str, list[Delivery]] = field(default_factory=lambda: defaultdict(list))
    #: Set once the payload is built: what the provider sends.
    payload: Any = None
    outcome: Any = None
    #: What went wrong building or sending the payload (None: sent, or nothing to send).
    error: BaseException | None = None
    #: Another runner took the window over (this one was slower than DELIVERY_LEASE): leave it be.
    lost: bool = False

    @property
    def key(self) -> WindowKey:
        d = self.digest
        return (d.recipient_type_id, d.recipient_id, d.channel, d.provider, d.window_end)


def send_due_digests(now: datetime | None = None, *, limit: int | None = None) -> int:
    """Send every digest whose window has ended by ``now`` (at most ``limit`` windows looked at);
    return how many digests went out. Safe to run in several places at once."""
    now = now or timezone.now()
    sent = seen = 0
    after: WindowKey | None = None
    while limit is None or seen < limit:
        size = WINDOWS_PER_BATCH if limit is None else min(WINDOWS_PER_BATCH, limit - seen)
        keys = _due_windows(now, after, size)
        if not keys:
            break
        seen += len(keys)
        # Keyset pagination: windows another runner holds stay behind us, so the loop ends.
        after = keys[-1]
        sent += _send_batch(keys, now)
        if len(keys) < size:  # that was the last of them
            break
    return sent


def _due_windows(now: datetime, after: WindowKey | None, size: int) -> list[WindowKey]:
    due = Delivery.objects.filter(status=Status.DIGEST, due_at__lte=now)
    if after is not None:
        type_id, recipient_id, channel, provider, end = after
        due = due.filter(
            Q(due_at__gt=end)
            | Q(due_at=end, recipient_type_id__gt=type_id)
            | Q(due_at=end, recipient_type_id=type_id, recipient_id__gt=recipient_id)
            | Q(due_at=end, recipient_type_id=type_id, recipient_id=recipient_id, channel__gt=channel)
            | Q(due_at=end, recipient_type_id=type_id, recipient_id=recipient_id, channel=channel, provider__gt=provider)
        )
    order = ["due_at", "recipient_type_id", "recipient_id", "channel", "provider"]
    return [
        (type_id, recipient_id, channel, provider, end)
        for end, type_id, recipient_id, channel, provider in due.order_by(*order).values_list(*order).distinct()[:size]
    ]


def _match(keys: Iterable[WindowKey], end_field: str) -> Q:
    """Rows of exactly these windows (``end_field``: the column holding a window's end)."""
    condition = Q(pk__in=[])
    for type_id, recipient_id, channel, provider, end in keys:
        condition |= Q(recipient_type_id=type_id, recipient_id=recipient_id, channel=channel, provider=provider,
                       **{end_field: end})
    return condition


def _send_batch(keys: list[WindowKey], now: datetime) -> int:
    token = uuid.uuid4()
    lease = timedelta(seconds=conf.get("DELIVERY_LEASE"))
    Digest.objects.bulk_create(
        [Digest(recipient_type_id=type_id, recipient_id=recipient_id, channel=channel, provider=provider,
                window_end=end, status=Digest.Status.SENDING, claim=token, created_at=now)
         for type_id, recipient_id, channel, provider, end in keys],
        ignore_conflicts=True,
    )
    # A claim its runner never finished (it died) is taken over once its lease has run out.
    Digest.objects.filter(_match(keys, "window_end"), status=Digest.Status.SENDING,
                          created_at__lt=now - lease).update(created_at=now, claim=token)
    mine: dict[WindowKey, _Window] = {}
    finished: list[WindowKey] = []
    for digest in Digest.objects.filter(_match(keys, "window_end")):
        key = (digest.recipient_type_id, digest.recipient_id, digest.channel, digest.provider, digest.window_end)
        if digest.claim == token:
            mine[key] = _Window(digest)
        elif digest.status != Digest.Status.SENDING:
            finished.append(key)
        # else: another runner is sending this window right now.
    if finished:
        _move_late_arrivals(finished, now)
    if not mine:
        return 0
    Delivery.objects.filter(_match(mine, "due_at"), status=Status.DIGEST).update(
        claim=token, claimed_until=now + lease, attempts=F("attempts") + 1, updated_at=now,
    )
    for row in Delivery.objects.filter(claim=token, status=Status.DIGEST).select_related("notification"):
        window = mine.get((row.recipient_type_id, row.recipient_id, row.channel, row.provider, row.due_at))
        if window is not None:
            window.rows.append(row)
    empty = [window.digest.pk for window in mine.values() if not window.rows]
    live = [window for window in mine.values() if window.rows]
    from inbox.channels.tasks import _recipients  # the delivery task's bulk loader: one query per model

    recipients = _recipients([row for window in live for row in window.rows])
    decisions = _decisions(live, now) if live else None
    # The schedules decide_many read (digest ones only): the frequency and time zone shown.
    schedules = {(*key, channel): schedule for key, by_channel in (decisions.schedules if decisions else {}).items()
                 for channel, schedule in by_channel.items()}
    for window in live:
        _check(window, recipients, decisions)
    _build(live, recipients, schedules, now)
    _keep_claims(live, token)
    _send(live)
    sent = _record(live, now, token)
    if empty or any(not window.kept for window in live):
        # Nothing went out for these windows: keep no Digest row (nothing to send twice either).
        Digest.objects.filter(pk__in=empty + [w.digest.pk for w in live if not w.kept], claim=token).delete()
    return sent


# --- preferences ------------------------------------------------------------------------------


def _decisions(live: Sequence[_Window], now: datetime) -> Any:
    """The preferences of these windows' recipients for their notifications' categories, read
    again now (inbox.services.preferences: one query for the whole batch)."""
    from inbox.services import preferences

    keys = {(window.digest.recipient_type_id, window.digest.recipient_id) for window in live}
    cats = {notification_of(row).category for window in live for row in window.rows}
    return preferences.decide_many(sorted(keys), sorted(cats), sorted({w.digest.channel for w in live}), now)


def _schedules(keys: Sequence[WindowKey]) -> dict[tuple[int, str, str], DigestSchedule]:
    """The DigestSchedule of each (recipient type, recipient id, channel) of ``keys``, one query."""
    if not keys:
        return {}
    who = Q(pk__in=[])
    for type_id, recipient_id, channel, _provider, _end in set(keys):
        who |= Q(recipient_type_id=type_id, recipient_id=recipient_id, channel=channel)
    return {(s.recipient_type_id, s.recipient_id, s.channel): s for s in DigestSchedule.objects.filter(who)}


def _check(window: _Window, recipients: Mapping[tuple[int, str], Any], decisions: Any) -> None:
    """Sort the window's rows: kept, or skipped (recipient gone, category turned off since)."""
    from inbox.services import preferences

    d = window.digest
    key = (d.recipient_type_id, d.recipient_id)
    if key not in recipients:
        window.skipped["the recipient no longer exists"] = list(window.rows)
        return
    for row in window.rows:
        if decisions.enabled(key, d.channel, notification_of(row).category):
            window.kept.append(row)
        else:
            window.skipped[preferences.skipped_reason()].append(row)


# --- building and sending ---------------------------------------------------------------------


def _zone(schedule: DigestSchedule | None) -> tzinfo:
    try:
        return windows.zone(schedule.time_zone if schedule else "")
    except ValueError:  # a zone this machine's tzdata does not know: show times in the site's
        return timezone.get_default_timezone()


def _build(live: Sequence[_Window], recipients: Mapping[tuple[int, str], Any],
           schedules: Mapping[tuple[int, str, str], DigestSchedule], now: datetime) -> None:
    providers: dict[str, Provider] = {}
    for window in live:
        if not window.kept:
            continue
        d = window.digest
        try:
            provider = providers.get(d.provider) or providers.setdefault(d.provider, registry.provider(d.provider))
            channel = registry.channel(d.channel, window.kept[0].context)
        except KeyError as error:
            window.error = DeliveryError(f"{error} is not registered any more", retry=False)
            continue
        recipient = recipients[(d.recipient_type_id, d.recipient_id)]
        notifications = []
        listed: set[int] = set()
        for row in sorted(window.kept, key=lambda r: (notification_of(r).sent_at, r.pk), reverse=True):
            # A group's row absorbs later sends, each with a delivery of its own: listed once.
            if row.notification_id is not None and row.notification_id in listed:
                continue
            if row.notification_id is not None:
                listed.add(row.notification_id)
            notification = notification_of(row)
            notification.recipient = recipient
            notifications.append(notification)
        schedule = schedules.get((d.recipient_type_id, d.recipient_id, d.channel))
        try:
            if isinstance(provider, EmailProvider):
                window.payload = email_payload(provider, recipient, notifications, digest=d, schedule=schedule)
            else:
                window.payload = summary_payload(channel, provider, recipient, notifications, digest=d, now=now)
        except SkipDelivery as reason:
            window.skipped[str(reason)] += window.kept
            window.kept = []
        except Exception as error:  # a bug in a template or a channel: no retry would fix it
            logger.exception("Could not build digest %s.", d)
            window.error = DeliveryError(f"{type(error).__name__}: {error}", retry=False)


def email_payload(provider: EmailProvider, recipient: Any, notifications: Sequence[Notification], *,
                  digest: Digest, schedule: DigestSchedule | None) -> dict[str, Any]:
    """The digest e-mail: what :meth:`EmailProvider.message` sends, from the digest templates."""
    from inbox import unsubscribe

    address = conf.load(conf.get("EMAIL_ADDRESS_RESOLVER"))(recipient)
    if not address:
        raise SkipDelivery("the recipient has no e-mail address")
    key = (digest.recipient_type_id, digest.recipient_id)
    shown = list(notifications[:SHOWN_ITEMS])
    frequency = Frequency(schedule.frequency) if schedule else None
    context = {
        "recipient": recipient,
        "sections": sections(shown),
        "size": len(notifications),
        "more": len(notifications) - len(shown),
        "frequency": frequency,
        "frequency_label": frequency.label if frequency else "",
        "window_end": digest.window_end,
        "inbox_url": site.inbox_url(),
        "settings_url": site.preferences_url(),  # the inbox on a site without the preferences page
    }
    try:
        # One token for the header and the link in the body (each call would sign a new one).
        headers = dict(unsubscribe.headers(key, "", digest.channel))
        context["unsubscribe_url"] = headers["List-Unsubscribe"][1:-1]
    except NoReverseMatch:  # a URLconf without inbox:unsubscribe: the settings page, no one-click POST
        headers = {"List-Unsubscribe": f"<{context['settings_url']}>"}
        context["unsubscribe_url"] = ""
    # Times read in the recipient's own zone, as the window was.
    with timezone.override(_zone(schedule)):
        subject = " ".join(render_to_string("inbox/email/digest_subject.txt", context).split())
        text = render_to_string("inbox/email/digest_body.txt", context)
        html = render_to_string("inbox/email/digest_body.html", context)
    return {"to": [address], "subject": subject, "text": text, "html": html,
            "headers": headers}


@dataclass
class Section:
    category: categories.Category | None
    label: str
    items: list[dict[str, Any]]


def sections(notifications: Sequence[Notification]) -> list[Section]:
    """``notifications`` grouped by category: declared categories in the registry's order, then
    undeclared ones by label, then those without a category; each item keeps its order."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for notification in notifications:
        grouped[notification.category].append(
            {"notification": notification, "link": site.absolute(notification.url), "sent_at": notification.sent_at}
        )
    order = {category.slug: index for index, category in enumerate(categories.registry)}

    def place(slug: str) -> tuple[bool, int, str]:
        return (slug == "", order.get(slug, len(order)), str(categories.get(slug).label).lower() if slug else "")

    result = []
    for slug in sorted(grouped, key=place):
        category = categories.get(slug) if slug else None
        result.append(Section(category, str(category.label) if category else _("Other"), grouped[slug]))
    return result


def summary_payload(channel: Channel, provider: Provider, recipient: Any, notifications: Sequence[Notification], *,
                    digest: Digest, now: datetime) -> Any:
    """For a provider other than e-mail: the payload its channel builds for one notification that
    sums the digest up ("3 notifications: A; B; C"), linking to the inbox; the channel's context
    gains ``digest``: ``size``, ``window_end`` and ``notifications`` (their public ids)."""
    texts = [shortcodes.expand_text(n.message, {"notification": n}) for n in notifications[:SUMMARY_ITEMS]]
    listed = "; ".join(texts) + ("; …" if len(notifications) > SUMMARY_ITEMS else "")
    message = ngettext("%(count)d notification: %(list)s", "%(count)d notifications: %(list)s",
                       len(notifications)) % {"count": len(notifications), "list": listed}
    summary = Notification(
        recipient_type_id=digest.recipient_type_id, recipient_id=digest.recipient_id,
        message=shortcodes.escape(message),  # already expanded: its brackets are text now
        url=reverse("inbox:list"), sent_at=now, created_at=now, updated_at=now,
    )
    summary.recipient = recipient
    channel.context = {**channel.context, "digest": {
        "size": len(notifications), "window_end": digest.window_end.isoformat(),
        "notifications": [str(n.uid) for n in notifications if n.pk is not None],
    }}
    return channel.build_payload(summary, provider)


def _keep_claims(live: Sequence[_Window], token: uuid.UUID) -> None:
    """Just before sending: renew this runner's claims (the lease starts again) and give up the
    windows another runner took over meanwhile, so a slow runner never sends a window twice."""
    windows = {window.digest.pk: window for window in live if window.kept}
    if not windows:
        return
    held = set(Digest.objects.filter(pk__in=list(windows), claim=token).values_list("pk", flat=True))
    Digest.objects.filter(pk__in=held, claim=token).update(created_at=timezone.now())
    for pk, window in windows.items():
        window.lost = pk not in held


def _send(live: Sequence[_Window]) -> None:
    """Each provider's payloads in one ``send_bulk()`` (one SMTP connection for a batch)."""
    by_provider: dict[str, list[_Window]] = defaultdict(list)
    for window in live:
        if window.kept and window.error is None and not window.lost:
            by_provider[window.digest.provider].append(window)
    for name, group in by_provider.items():
        provider = registry.provider(name)
        try:
            outcomes = list(provider.send_bulk([window.payload for window in group]))
            if len(outcomes) != len(group):
                raise RuntimeError(f"{type(provider).__name__}.send_bulk() returned {len(outcomes)} outcomes "
                                   f"for {len(group)} payloads")
        except Exception as error:
            outcomes = [error] * len(group)
        for window, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                window.error = outcome
            else:
                window.outcome = outcome


# --- recording --------------------------------------------------------------------------------


def _record(live: Sequence[_Window], now: datetime, token: uuid.UUID) -> int:
    """Write what happened: the deliveries first, then the Digest rows (a finished Digest tells
    other runners that what is left in its window arrived late)."""
    from inbox.channels.tasks import backoff

    released = {"claim": None, "claimed_until": None, "updated_at": now}
    sent = 0
    digests = []
    for window in live:
        d = window.digest
        if window.lost:
            continue
        for reason, rows in window.skipped.items():
            pks = [row.pk for row in rows]
            for start in range(0, len(pks), 500):
                Delivery.objects.filter(pk__in=pks[start:start + 500]).update(
                    status=Status.SKIPPED, last_error=reason, **released)
        if not window.kept:
            continue
        # The window's remaining claimed rows are exactly its kept ones: one UPDATE, any number.
        claimed = Delivery.objects.filter(claim=token, recipient_type_id=d.recipient_type_id,
                                       recipient_id=d.recipient_id, channel=d.channel, provider=d.provider,
                                       due_at=d.window_end)
        d.size = len({("n", row.notification_id) if row.notification_id else ("d", row.pk) for row in window.kept})
        if window.error is None:
            message_id = ("" if window.outcome is None else str(window.outcome))[:255]
            claimed.update(status=Status.SENT, sent_at=now, last_error="", provider_message_id=message_id, **released)
            d.status, d.sent_at, d.provider_message_id, d.last_error = Digest.Status.SENT, now, message_id, ""
            sent += 1
        else:
            error = f"{type(window.error).__name__}: {window.error}"[:2000]
            retry = window.error.retry if isinstance(window.error, DeliveryError) else True
            attempts = max(row.attempts for row in window.kept)
            if retry and attempts < conf.get("DELIVERY_MAX_ATTEMPTS"):
                # Back as digest rows due after the backoff: a later run sends them as a new digest.
                claimed.update(due_at=now + backoff(attempts), last_error=error, **released)
            else:
                claimed.update(status=Status.FAILED, last_error=error, **released)
            d.status, d.provider_message_id, d.last_error = Digest.Status.FAILED, "", error
            logger.warning("Digest %s failed (%s): %s", d, "will retry" if retry else "for good", error)
        digests.append(d)
    if digests:
        Digest.objects.bulk_update(digests, ["status", "size", "sent_at", "provider_message_id", "last_error"])
    return sent


def _move_late_arrivals(keys: Sequence[WindowKey], now: datetime) -> None:
    """Deliveries still waiting in a window whose digest is finished go to the recipient's next
    window (the next hour when they no longer have a digest schedule)."""
    schedules = _schedules(keys)
    for key in keys:
        type_id, recipient_id, channel, _provider, _end = key
        schedule = schedules.get((type_id, recipient_id, channel))
        moved = Delivery.objects.filter(_match([key], "due_at"), status=Status.DIGEST).update(
            due_at=next_window_end(schedule, now), claim=None, claimed_until=None, updated_at=now,
        )
        if moved:
            logger.info("%d late deliveries of the finished digest %s moved to the next window.", moved, key)


def next_window_end(schedule: DigestSchedule | None, now: datetime) -> datetime:
    """The end of ``schedule``'s window holding ``now``; the next top of the hour without one."""
    if schedule is not None and schedule.frequency != Frequency.IMMEDIATELY:
        try:
            return windows.window_end(schedule.frequency, time=schedule.time, weekday=schedule.weekday,
                                      time_zone=schedule.time_zone, now=now)
        except ValueError:  # an unknown zone: the site's, rather than never
            return windows.window_end(schedule.frequency, time=schedule.time, weekday=schedule.weekday, now=now)
    return windows.window_end(Frequency.HOURLY, now=now)
