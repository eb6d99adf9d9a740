"""The inbox table: a django-tables2 Table a site can subclass (``INBOX["TABLE_CLASS"]``)."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from inbox import shortcodes
from inbox.models import Notification


class NotificationTable(tables.Table):
    """Columns of the inbox. Override ``render_<column>`` or add columns in a subclass."""

    message = tables.Column(verbose_name=_("Notification"), orderable=False)
    category = tables.Column(verbose_name=_("Category"), order_by=("category", "-sent_at", "-id"))
    level = tables.Column(verbose_name=_("Level"), order_by=("-level", "-sent_at", "-id"))
    sent_at = tables.Column(verbose_name=_("Received"), order_by=("-sent_at", "-id"))

    class Meta:
        model = Notification
        fields = ("message", "category", "level", "sent_at")
        order_by = ("sent_at",)
        orderable = True
        empty_text = _("No notifications here.")

    def render_message(self, record: Notification) -> Any:
        # A button, not a link: opening marks read, and changes only happen by POST.
        url = reverse("inbox:detail", args=[record.uid])
        # The view sets detail_query (the current filters) so the detail page can offer prev / next.
        query = getattr(self, "detail_query", "")
        return format_html(
            '<button type="submit" form="inbox-open" class="inbox-open" formaction="{}">{}</button>',
            f"{url}?{query}" if query else url,
            shortcodes.expand_html(record.message, {"notification": record, "request": getattr(self, "request", None)}),
        )

    def render_category(self, value: str) -> Any:
        return format_html('<span class="inbox-category">{}</span>', value)

    def render_level(self, record: Notification) -> Any:
        return format_html(
            '<span class="inbox-level inbox-level--{}">{}</span>', record.level_name, record.get_level_display()
        )

    def render_sent_at(self, value: Any) -> Any:
        from django.template.defaultfilters import date
        from django.utils.timesince import timesince

        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            value.isoformat(),
            date(value, "DATETIME_FORMAT"),
            _("%(time)s ago") % {"time": timesince(value)},
        )
