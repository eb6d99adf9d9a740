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
from inbox.models import Delivery, Digest, DigestSchedule, Mute, Notification, Preference, Stats
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


class _RecordAdmin(admin.ModelAdmin):
    """A record the kit writes through its services (so the rules hold): shown, never edited here.
    Deleting stays possible where it only undoes a person's choice (``can_delete``)."""

    can_delete = False
    list_select_related = ["recipient_type"]
    show_full_result_count = False
    search_fields = ["=recipient_id"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    @admin.display(description=_("recipient"), ordering="recipient_id")
    def recipient_label(self, obj: Any) -> str:
        return f"{obj.recipient_type}: {obj.recipient_id}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.can_delete and super().has_delete_permission(request, obj)


@admin.register(Digest)
class DigestAdmin(_RecordAdmin):
    """The digest log: one row per digest sent (or failed) per recipient, channel and window."""

    list_display = ["recipient_label", "channel", "provider", "window_end", "status", "size", "short_error", "sent_at"]
    list_filter = ["status", "channel", "provider"]
    search_fields = ["=recipient_id", "provider_message_id"]
    date_hierarchy = "window_end"

    @admin.display(description=_("last error"))
    def short_error(self, obj: Digest) -> str:
        return obj.last_error[:80]


@admin.register(DigestSchedule)
class DigestScheduleAdmin(_RecordAdmin):
    """How often each person hears through each channel (changed on their preferences page)."""

    list_display = ["recipient_label", "channel", "frequency", "time", "weekday", "time_zone", "updated_at"]
    list_filter = ["frequency", "channel"]
    can_delete = True  # back to the default: immediately


@admin.register(Preference)
class PreferenceAdmin(_RecordAdmin):
    """Each person's stored choices; no row means the default (on)."""

    list_display = ["recipient_label", "shown_category", "shown_channel", "enabled", "updated_at"]
    list_filter = ["enabled", "channel", "category"]
    can_delete = True  # back to the default: on

    @admin.display(description=_("category"), ordering="category")
    def shown_category(self, obj: Preference) -> StrOrPromise:
        return obj.category or _("(every category: the channel's switch)")

    @admin.display(description=_("channel"), ordering="channel")
    def shown_channel(self, obj: Preference) -> StrOrPromise:
        return obj.channel or _("(every channel)")


@admin.register(Mute)
class MuteAdmin(_RecordAdmin):
    """Muted threads: deleting one unmutes it."""

    list_display = ["recipient_label", "thread", "created_at"]
    search_fields = ["=recipient_id", "=thread"]
    can_delete = True
