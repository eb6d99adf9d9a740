"""Admin for browsing notifications; every change goes through inbox.services so Stats stay right."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inbox import shortcodes
from inbox.channels import deliveries
from inbox.models import Delivery, Notification, Stats
from inbox.services import manager

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class ReadStateFilter(admin.SimpleListFilter):
    title = _("read state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("unread", _("unread")),
            ("read", _("read")),
            ("archived", _("archived")),
            ("starred", _("starred")),
            ("scheduled", _("scheduled (not yet visible)")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        # The querysets' own definitions (unread = not read and not archived), as Stats counts them.
        value = self.value()
        if value in {"unread", "read", "archived", "starred", "scheduled"}:
            return getattr(queryset, value)()
        return queryset


def _bulk_action(operation: Any, description: StrOrPromise, done: Any) -> Any:
    """An admin action running ``operation`` (a manager helper) so Stats stay right."""

    @admin.action(description=description)
    def action(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        count = operation(queryset)
        model_admin.message_user(request, done(count) % {"count": count}, messages.SUCCESS)

    action.__name__ = operation.__name__
    return action


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["shown_message", "recipient_type", "recipient_id", "category", "level", "sent_at", "read_at", "is_published"]
    list_filter = [ReadStateFilter, "level", "category", "is_published", "sent_at"]
    search_fields = ["message", "=recipient_id", "=uid"]
    date_hierarchy = "sent_at"
    list_select_related = ["recipient_type"]
    show_full_result_count = False  # no COUNT(*) over a huge table on every page
    ordering = ["-sent_at", "-id"]
    readonly_fields = [field.name for field in Notification._meta.fields]
    actions = [
        _bulk_action(
            manager.mark_read,
            _("Mark selected as read"),
            lambda n: ngettext("%(count)d notification marked read.", "%(count)d notifications marked read.", n),
        ),
        _bulk_action(
            manager.mark_unread,
            _("Mark selected as unread"),
            lambda n: ngettext("%(count)d notification marked unread.", "%(count)d notifications marked unread.", n),
        ),
        _bulk_action(
            manager.archive,
            _("Archive selected"),
            lambda n: ngettext("%(count)d notification archived.", "%(count)d notifications archived.", n),
        ),
    ]

    @admin.display(description=_("message"), ordering="message")
    def shown_message(self, notification: Notification) -> str:
        """The message as people see it, shortcodes expanded (the change page shows it as stored)."""
        return shortcodes.expand_text(notification.message, {"notification": notification})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # send with inbox.services.notifier so messages, Stats and events stay consistent

    def delete_model(self, request: HttpRequest, obj: Notification) -> None:
        manager.delete(Notification.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        manager.delete(queryset)


@admin.register(Stats)
class StatsAdmin(admin.ModelAdmin):
    list_display = ["recipient_type", "recipient_id", "total", "unread", "unseen", "archived", "starred", "updated_at"]
    list_filter = ["recipient_type"]
    search_fields = ["=recipient_id"]
    show_full_result_count = False
    readonly_fields = [field.name for field in Stats._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log: what went out through which channel, and what failed (with a retry)."""

    list_display = ["created_at", "channel", "provider", "recipient_type", "recipient_id", "status", "attempts",
                    "short_error", "sent_at"]
    list_filter = ["status", "channel", "provider"]
    search_fields = ["=recipient_id", "=batch", "provider_message_id"]
    list_select_related = ["recipient_type"]
    show_full_result_count = False
    readonly_fields = [field.name for field in Delivery._meta.fields]
    actions = ["retry"]

    @admin.display(description=_("last error"))
    def short_error(self, obj: Delivery) -> str:
        return obj.last_error[:80]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Retry the selected deliveries"), permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = deliveries.retry(queryset.exclude(status=Delivery.Status.SENT))
        self.message_user(
            request,
            ngettext("%(count)d delivery will be retried.", "%(count)d deliveries will be retried.", count)
            % {"count": count},
            messages.SUCCESS,
        )
