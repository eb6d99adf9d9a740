"""One adapter per system: the same workloads expressed in each package's own API.

Imported inside each system's own virtualenv, so an adapter imports only its package.
Where a package has no equivalent of a workload, the adapter says so instead of inventing one.
"""

from __future__ import annotations

from typing import Any

NO_EQUIVALENT = "no equivalent"


class System:
    name = ""
    label = ""
    apps: list[str] = []
    settings: dict[str, Any] = {}
    list_path: str | None = None  # the package's own unread list, or None (then a queryset is used)
    postgres_only = False
    #: Largest inbox the workloads build, and largest fan-out sent, for this system.
    max_inbox = 100_000
    max_fanout = 10_000

    def urls(self) -> list[Any]:
        return []

    def fanout(self, message: str, users: Any, actor: Any) -> None:
        raise NotImplementedError

    def fill(self, user: Any, actor: Any, count: int) -> None:
        """``count`` unread notifications for ``user``, the fastest way the package allows."""
        raise NotImplementedError

    def unread_count(self, user: Any) -> int:
        raise NotImplementedError

    def forget_caches(self) -> None:
        """Make the next count "cold"."""

    def unread_page(self, user: Any) -> list[Any]:
        raise NotImplementedError

    def mark_all_read(self, user: Any) -> None:
        raise NotImplementedError


class Ours(System):
    name, label = "ours", "django-htmx-inbox"
    apps = ["django_htmx", "template_partials", "inbox"]
    list_path = "/inbox/?status=unread"

    def urls(self):
        from django.urls import include, path

        return [path("inbox/", include("inbox.urls"))]

    def fanout(self, message, users, actor):
        from inbox.services import notifier

        notifier.send(message, users, actor=actor)

    def fill(self, user, actor, count):
        from inbox.models import Notification
        from inbox.services import manager

        # Rows straight in, then the package's own recount: faster than `count` separate sends.
        Notification.objects.bulk_create(
            [Notification(recipient=user, actor=actor, message=f"n{i}") for i in range(count)], batch_size=5000
        )
        manager.collect_stats([user])

    def unread_count(self, user):
        from inbox import stats

        return stats.counts_for([user]).unread

    def forget_caches(self):
        from django.contrib.contenttypes.models import ContentType

        ContentType.objects.clear_cache()

    def unread_page(self, user):
        from inbox.models import Notification

        return list(Notification.objects.recipients([user]).sent().active().unread()[:25])

    def mark_all_read(self, user):
        from inbox.services import manager

        manager.mark_all_read(user)


class Community(System):
    name, label = "community", "django-notifications-community 1.12"
    apps = ["notifications"]
    settings = {"DJANGO_NOTIFICATIONS_CONFIG": {"PAGINATE_BY": 25}}
    list_path = "/notifications/unread/"

    def urls(self):
        from django.urls import include, path

        return [path("notifications/", include("notifications.urls", namespace="notifications"))]

    def fanout(self, message, users, actor):
        from notifications.signals import notify

        notify.send(actor, recipient=users, verb=message)

    def fill(self, user, actor, count):
        from notifications.signals import notify

        for start in range(0, count, 10_000):
            # notify.send takes one recipient per notification: a list repeating the user.
            notify.send(actor, recipient=[user] * min(10_000, count - start), verb="n")

    def unread_count(self, user):
        from notifications.templatetags.notifications_tags import get_cached_notification_unread_count

        return get_cached_notification_unread_count(user)

    def forget_caches(self):
        from django.core.cache import cache

        cache.clear()

    def unread_page(self, user):
        return list(user.notifications.unread()[:25])

    def mark_all_read(self, user):
        user.notifications.mark_all_as_read()


class HQ(Community):
    name, label = "hq", "django-notifications-hq 1.8.3"
    settings = {"DJANGO_NOTIFICATIONS_CONFIG": {"PAGINATE_BY": 25}}

    def unread_count(self, user):
        return user.notifications.unread().count()


class WC(System):
    name, label = "wc", "wc-django-notifications 0.3"
    apps = ["wcd_notifications"]
    postgres_only = True
    list_path = None  # only a DRF API (needs djangorestframework): its queryset is measured instead
    # send() prepares and signals per row and change_flags() loads every row into Python: 100,000
    # would take several minutes per run, so only 10,000 is measured. After a send to 10,000
    # recipients its stats collection ran a DELETE with a 10,000-way OR for over six minutes.
    max_inbox = 10_000
    max_fanout = 1_000

    def fanout(self, message, users, actor):
        from wcd_notifications.services import notifier

        notifier.send(message, list(users), actor=actor)

    def fill(self, user, actor, count):
        from wcd_notifications.services import notifier

        for start in range(0, count, 10_000):
            notifier.send("n", [user] * min(10_000, count - start), actor=actor, batch_size=5000)

    def unread_count(self, user):
        from django.db.models import Sum
        from wcd_notifications.models import Notification, Stats

        row = Stats.objects.recipients([user]).filter(flag=Notification.Readability.UNREAD).aggregate(n=Sum("amount"))
        return row["n"] or 0

    def unread_page(self, user):
        from wcd_notifications.models import Notification

        return list(Notification.objects.recipients([user]).unread().order_by("-sent_at")[:25])

    def mark_all_read(self, user):
        from wcd_notifications.models import Notification
        from wcd_notifications.services import manager

        manager.change_flags(Notification.objects.recipients([user]), add=[Notification.Readability.READ])


SYSTEMS = {system.name: system for system in (Ours(), Community(), HQ(), WC())}
