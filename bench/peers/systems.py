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
    #: The package's own JSON list endpoint (all of the recipient's notifications, first page), or
    #: None when it has no API: the "API list" rows then say "no equivalent".
    api_list_path: str | None = None
    #: Measure the API list on an inbox of its own, filled by api_fill, at every size.
    api_separate_inbox = False
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

    def api_fill(self, user: Any, actor: Any, count: int) -> None:
        """The inbox for the API row when it has one of its own (see ``api_separate_inbox``)."""
        self.fill(user, actor, count)

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
    apps = ["django_htmx", "template_partials", "inbox", "rest_framework"]
    list_path = "/inbox/?status=unread"
    # inbox.contrib.drf with no REST_FRAMEWORK setting: its own cursor pagination, 25 rows, no COUNT.
    api_list_path = "/api/inbox/notifications/list/"

    def urls(self):
        from django.urls import include, path

        return [path("inbox/", include("inbox.urls")), path("api/inbox/", include("inbox.contrib.drf.urls"))]

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
    # Its README's DRF setup: the contrib app, django-filter and DRF (the "[drf]" extra, see run.PEERS).
    apps = ["wcd_notifications", "wcd_notifications.contrib.drf", "django_filters", "rest_framework"]
    # Without a pagination setting its list returns every row (100,000 in one response); this is
    # the setting a site must add to page it at all, and PageNumberPagination is the only pager it
    # works with (it counts the recipient's rows on every page).
    settings = {"REST_FRAMEWORK": {"DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
                                   "PAGE_SIZE": 25}}
    postgres_only = True
    list_path = None  # no unread page of its own (only the JSON API below): its queryset is measured instead
    api_list_path = "/api/v1/notifications/notifications/list/"
    # Its list orders by ordering_field (sent_at in ms) first, and fill()'s send() stamps all 10,000
    # rows of a call with one time: on that inbox the first page sorts every row (about 0.5 s at
    # 100,000, against 0.1 ms when the times differ). So the API row gets an inbox of its own that
    # filled over time, at both sizes (api_fill below).
    api_separate_inbox = True
    # send() prepares and signals per row and change_flags() loads every row into Python: 100,000
    # would take several minutes per run, so only 10,000 is measured (but for the API row: see
    # api_fill). After a send to 10,000
    # recipients its stats collection ran a DELETE with a 10,000-way OR for over six minutes.
    max_inbox = 10_000
    max_fanout = 1_000

    def urls(self):
        from django.urls import include, path
        from wcd_notifications.contrib.drf.views import make_urlpatterns

        return [path("api/v1/notifications/", include(make_urlpatterns()))]

    def fanout(self, message, users, actor):
        from wcd_notifications.services import notifier

        notifier.send(message, list(users), actor=actor)

    def fill(self, user, actor, count):
        from wcd_notifications.services import notifier

        for start in range(0, count, 10_000):
            notifier.send("n", [user] * min(10_000, count - start), actor=actor, batch_size=5000)

    def api_fill(self, user, actor, count):
        # This bypasses its send() (its per-row prepare(), preparation pipeline, signals and so its
        # Stats), which is too slow for 100,000 rows (see max_inbox): its own Notification rows go
        # straight in by bulk_create, in batches, carrying what send() writes for each (the UNREAD
        # flag, ordering_field from sent_at, data["actual_now"]). Used only for the API list row;
        # the list reads no Stats.
        from datetime import timedelta

        from django.contrib.contenttypes.models import ContentType
        from django.utils import timezone
        from wcd_notifications.models import Notification

        now = timezone.now()
        row = {
            "recipient_content_type": ContentType.objects.get_for_model(user), "recipient_object_id": str(user.pk),
            "actor_content_type": ContentType.objects.get_for_model(actor), "actor_object_id": str(actor.pk),
            "message": "n",
        }

        def one(i):
            # Sent one second apart, oldest first: an inbox that filled over time, one send() per
            # notification (ours' fill also gives every row its own time).
            sent_at = now - timedelta(seconds=count - i)
            return Notification(**row, flags=[Notification.Readability.UNREAD], sent_at=sent_at, created_at=sent_at,
                                data={"actual_now": sent_at.isoformat()}, ordering_field=int(sent_at.timestamp() * 1000))

        for start in range(0, count, 5000):
            Notification.objects.bulk_create([one(i) for i in range(start, min(start + 5000, count))])

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
