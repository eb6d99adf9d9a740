"""``{% load inbox %}``: the kit's tags. Each renders a named partial a site can override."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any
from urllib.parse import urlencode

from django import template
from django.contrib.messages import get_messages
from django.http import HttpRequest
from django.template.defaultfilters import date as date_filter
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inbox import categories, conf, recipients, shortcodes, stats
from inbox.links import is_allowed_link
from inbox.models import Notification
from inbox.rows import ROW_COLUMNS, RowRenderer, kit_template
from inbox.templatetags import icons

register = template.Library()


def _request(context: template.Context) -> HttpRequest | None:
    return context.get("request")


def _counts(context: template.Context) -> stats.Counts:
    """The requester's counts, read once per render (views put them in the context already)."""
    counts = context.get("inbox_counts")
    if counts is None:
        request = _request(context)
        counts = stats.counts_for(recipients.for_request(request)) if request is not None else stats.Counts()
        context.dicts[0]["inbox_counts"] = counts
    return counts


@register.simple_tag(takes_context=True)
def inbox_stats(context: template.Context) -> stats.Counts:
    """``{% inbox_stats as counts %}{{ counts.unread }}``: the requester's counts, one query."""
    return _counts(context)


@register.simple_tag(takes_context=True)
def inbox_head(context: template.Context) -> SafeString:
    """The kit's stylesheet and inbox.js, and htmx 2 with its SSE extension (django-htmx's copies).

    With ``INBOX["LOAD_HTMX"] = False`` the site loads htmx 2 and the SSE extension itself: a
    second htmx would replace the site's ``window.htmx`` (and its configuration and extensions).
    """
    request = _request(context)
    live = request is not None and bool(recipients.for_request(request))
    return mark_safe(render_to_string("inbox/head.html", {
        "load_htmx": bool(conf.get("LOAD_HTMX")),
        # django-htmx's {% htmx_script %} reads the nonce from here, as the kit's own tags do.
        "csp_nonce": context.get("csp_nonce"),
        "strings": _js_strings(),
        "events_url": reverse("inbox:events") if live else "",
    }))


def _js_strings() -> dict[str, str]:
    """The words inbox.js shows, translated here so the script needs no catalogue of its own."""
    return {
        "dismiss": _("Dismiss"),
        "error": _("Something went wrong (%(status)s). Please try again."),
        "offline": _("Could not reach the server. Check your connection."),
        "shortcuts": _("Keyboard shortcuts"),
        "next_previous": _("Next / previous notification"),
        "select": _("Select"),
        "open": _("Open"),
        "archive": _("Archive"),
        "read_unread": _("Mark read / unread"),
        "help": _("This help"),
        "close": _("Close"),
        "selected_one": _("%(count)s selected"),
        "selected_many": _("%(count)s selected"),
        "star": _("Star"),
        "next_row": _("Archive moves to the next notification"),
    }


@register.simple_tag(takes_context=True)
def notification_badge(context: template.Context) -> SafeString:
    """A bell linking to the inbox, with the unread count from Stats (one query) and an accessible label."""
    request = _request(context)
    if request is None or not recipients.for_request(request):
        return mark_safe("")
    # A page has one bell: the preview's button already carries it (and the #inbox-badge id
    # that live updates swap), so a badge rendered after it on the same page would be a second
    # bell with a duplicate id.
    if getattr(request, "_inbox_bell_rendered", False):
        return mark_safe("")
    request._inbox_bell_rendered = True  # type: ignore[attr-defined]
    return mark_safe(render_to_string("inbox/badge.html#link", {"inbox_counts": _counts(context)}, request=request))


@register.simple_tag(takes_context=True)
def notification_toasts(context: template.Context, all_messages: bool = False) -> SafeString:
    """The toast stack (an aria-live region), showing the kit's messages (or every message)."""
    request = _request(context)
    toasts = []
    if request is not None:
        for message in get_messages(request):
            if all_messages or "inbox" in message.extra_tags.split():
                toasts.append({"text": str(message), "level": message.level_tag or "info"})
    return mark_safe(render_to_string("inbox/toasts.html#stack", {"toasts": toasts}, request=request))


def preview_context(request: HttpRequest, who: list[Any], *, limit: int) -> dict[str, Any]:
    items = list(
        Notification.objects.recipients(who).sent().unexpired().active().only(
            "uid", "message", "read_at", "sent_at", "level", "category", "recipient_type", "recipient_id"
        )[: max(1, min(limit, 20))]
    ) if who else []
    return {"items": items}


@register.simple_tag(takes_context=True)
def notification_preview(context: template.Context, limit: int = 5) -> SafeString:
    """A dropdown of the newest notifications with "mark all read" and "see all"."""
    request = _request(context)
    if request is None:
        return mark_safe("")
    who = recipients.for_request(request)
    if not who:
        return mark_safe("")
    # The preview's button is the page's bell (see notification_badge).
    request._inbox_bell_rendered = True  # type: ignore[attr-defined]
    ctx = {**preview_context(request, who, limit=limit), "inbox_counts": _counts(context)}
    return mark_safe(render_to_string("inbox/preview.html#preview", ctx, request=request))


@register.simple_tag
def inbox_query(params: dict[str, Any], **changes: Any) -> str:
    """``?`` + the list's parameters with ``changes`` applied (None removes one)."""
    merged = {**params, **changes}
    query = urlencode({key: value for key, value in merged.items() if value not in (None, "")})
    return f"?{query}" if query else "?"


@register.filter
def inbox_link(url: Any) -> str:
    """``url`` if it may be shown as a link (:func:`inbox.links.is_allowed_link`), else ``""``.

    send() checks links as they are stored; rows stored before that check existed, or written
    around send(), could still hold ``javascript:`` or an off-site ``/\\host``, so every
    template checks again before writing an ``href``.
    """
    if not isinstance(url, str) or not url:
        return ""
    return url if is_allowed_link(url) else ""


def _message_and_context(value: Any, request: Any) -> tuple[str | None, dict[str, Any]]:
    """The stored text to expand and its context; None when ``value`` is not message text."""
    notification = getattr(value, "notification", None) if not isinstance(value, Notification) else value
    context = {"request": request if isinstance(request, HttpRequest) else None}
    if isinstance(notification, Notification):
        return notification.message, {**context, "notification": notification}
    if isinstance(value, str):
        return value, context
    return None, context


@register.filter
def inbox_message(value: Any, request: Any = None) -> SafeString:
    """``{{ notification|inbox_message }}``: the message as HTML, its shortcodes expanded.

    Give it the notification (or a persistent message): handlers get it in their context. A
    template whose context has ``request`` may pass it too, ``|inbox_message:request`` (Django
    fails on a filter argument it cannot find, so the kit's own templates, which must work
    without the request context processor, do not). Text a handler returns is escaped; only the
    HTML it built itself (``format_html``) passes. A string is read as stored message text;
    anything else (a Django ``Message``) is shown as plain text, never read for shortcodes.
    ``|truncatechars_html:N`` shortens it without breaking a tag.
    """
    message, context = _message_and_context(value, request)
    if message is None:
        return conditional_escape("" if value is None else str(value))  # str() keeps a SafeString safe
    return shortcodes.expand_html(message, context)


@register.filter
def inbox_message_text(value: Any, request: Any = None) -> str:
    """``{{ notification|inbox_message_text|truncatechars:80 }}``: the same as plain text,
    for titles, tooltips and labels (any HTML a handler returns reduced to its text)."""
    message, context = _message_and_context(value, request)
    if message is None:
        return "" if value is None else str(value)
    return shortcodes.expand_text(message, context)


@register.filter
def inbox_until(value: Any) -> str:
    """``{{ notification.snoozed_until|inbox_until }}``: "today 15:30", "tomorrow 9:00", "Monday 9:00"."""
    from inbox.snooze_times import describe_until

    return describe_until(value) if value else ""


@register.filter
def badge_number(count: int) -> str:
    return "99+" if count > 99 else str(count)


# -- Icons, avatars, times: the small pieces the kit's templates are built from ----------------


@register.simple_tag
def inbox_icon(name: str, size: int = 16, css_class: str = "") -> SafeString:
    """``{% inbox_icon "archive" %}``: an icon from the kit's set as inline SVG.

    Decorative: ``aria-hidden`` and not focusable; the control it sits in carries the words.
    An unknown name renders the fallback (a bell) rather than failing a page.
    """
    name = str(name)
    body = icons.lookup(name)
    if body is None:
        name, body = icons.FALLBACK, icons.ICONS[icons.FALLBACK]
    classes = f"inbox-icon inbox-icon--{name}" + (f" {css_class}" if css_class else "")
    return format_html(
        '<svg class="{}" width="{}" height="{}" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        'stroke-width="1.75" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" '
        'focusable="false">{}</svg>',
        classes, size, size, mark_safe(body),  # the set's own markup, never input
    )


@register.filter
def inbox_category(slug: str) -> categories.Category | None:
    """The registry's Category for a slug (declared, or one made from the slug); None for none."""
    return categories.get(slug) if slug else None


@register.filter
def inbox_category_icon(category: categories.Category | None) -> str:
    """The icon of a category (see icons.icon_for_category); a bell for a notification without one."""
    return icons.icon_for_category(category.slug, category.icon) if category else "bell"


@register.filter
def inbox_initials(actor: Any) -> str:
    """One or two letters for an actor without a picture: "Ada Lovelace" → "AL", "bob" → "B"."""
    if actor is None:
        return ""
    full = actor.get_full_name() if callable(getattr(actor, "get_full_name", None)) else ""
    words = (full or str(actor)).replace(".", " ").replace("_", " ").replace("-", " ").split()
    if not words:
        return "?"
    letters = words[0][:1] + (words[-1][:1] if len(words) > 1 else "")
    return letters.upper()


@register.filter
def inbox_tone(value: Any) -> int:
    """A stable colour (1–8) for an avatar, so the same person always looks the same."""
    digest = hashlib.blake2s(str(value).encode(), digest_size=2).digest()
    return int.from_bytes(digest, "big") % 8 + 1


@register.filter
def inbox_avatar_url(actor: Any) -> str:
    """An actor's picture, when the model offers one (``avatar_url`` or ``get_avatar_url()``).

    Only http(s) or same-site paths become an ``src``: anything else shows initials.
    """
    url = getattr(actor, "avatar_url", None) or getattr(actor, "get_avatar_url", None)
    if callable(url):
        url = url()
    if not isinstance(url, str) or not url:
        return ""
    if url.startswith(("https://", "http://")) or (url.startswith("/") and not url.startswith(("//", "/\\"))):
        return url
    return ""


def _local(value: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


@register.filter
def inbox_ago(value: datetime.datetime | None) -> str:
    """A compact age, as inboxes show it: "now", "5m", "3h", "2d", then the date ("Mar 4")."""
    if value is None:
        return ""
    seconds = (timezone.now() - value).total_seconds()
    if seconds < 60:
        return _("now")
    if seconds < 3600:
        return _("%(count)dm") % {"count": seconds // 60}
    if seconds < 86400:
        return _("%(count)dh") % {"count": seconds // 3600}
    if seconds < 7 * 86400:
        return _("%(count)dd") % {"count": seconds // 86400}
    local = _local(value)
    if local.year == _local(timezone.now()).year:
        return date_filter(local, _("M j"))
    return date_filter(local, _("M j, Y"))


@register.filter
def inbox_ago_long(value: datetime.datetime | None) -> str:
    """The same age in words, for screen readers ("3 hours ago")."""
    if value is None:
        return ""
    seconds = int((timezone.now() - value).total_seconds())
    if seconds < 60:
        return _("just now")
    if seconds < 3600:
        count = seconds // 60
        return ngettext("%(count)d minute ago", "%(count)d minutes ago", count) % {"count": count}
    if seconds < 86400:
        count = seconds // 3600
        return ngettext("%(count)d hour ago", "%(count)d hours ago", count) % {"count": count}
    if seconds < 7 * 86400:
        count = seconds // 86400
        return ngettext("%(count)d day ago", "%(count)d days ago", count) % {"count": count}
    return date_filter(_local(value), "DATE_FORMAT")


def day_group(value: datetime.datetime, today: datetime.date) -> str:
    day = _local(value).date()
    if day >= today:
        return "today"
    if day == today - datetime.timedelta(days=1):
        return "yesterday"
    return "earlier"


@register.simple_tag
def inbox_day_groups(rows: Any, grouped: bool = True) -> list[dict[str, Any]]:
    """The page's rows in runs of Today, Yesterday and Earlier (rows sorted newest first).

    ``grouped=False`` (a list sorted by something other than time) gives one unlabelled run.
    """
    labels = {"today": _("Today"), "yesterday": _("Yesterday"), "earlier": _("Earlier")}
    runs: list[dict[str, Any]] = []
    today = _local(timezone.now()).date()
    for row in rows:
        record = getattr(row, "record", row)
        key = day_group(record.sent_at, today) if grouped else "all"
        if not runs or runs[-1]["key"] != key:
            runs.append({"key": key, "label": labels.get(key, ""), "rows": []})
        runs[-1]["rows"].append(row)
    return runs


@register.filter
def inbox_extra_cells(row: Any) -> list[tuple[Any, Any]]:
    """A django-tables2 row's cells for the columns the row partial does not lay out itself."""
    table = getattr(row, "table", None)
    if table is None:
        return []
    return [(column, row.get_cell(column.name)) for column in table.columns if column.name not in ROW_COLUMNS]


class RowsNode(template.Node):
    """``{% inbox_rows rows %}``: the list's rows.

    In the kit's own ``inbox/inbox.html`` the rows are written by :class:`inbox.rows.RowRenderer`
    (the same HTML as its ``row`` partial, at a fraction of the cost); in a site's copy of the
    template, each row is its own ``row`` partial, so a site that changes the partial sees it.
    """

    def __init__(self, rows: template.base.FilterExpression, parser_data: dict[str, Any]) -> None:
        self.rows = rows
        # The template's partials: defined further down the file, so looked up when rendering.
        self.parser_data = parser_data

    def render(self, context: template.Context) -> str:
        rows = self.rows.resolve(context) or []
        if kit_template(self.origin, "inbox/inbox.html"):
            # One renderer per render of the page, shared by its runs (Today, Yesterday, Earlier).
            renderer = context.render_context.get(self)
            if renderer is None:
                renderer = context.render_context[self] = RowRenderer(context)
            return renderer.render_rows(rows)
        # django-template-partials keeps a template's partials in the parser's extra_data (25.1+,
        # on Django 5.1+) or, before that, on the template's origin.
        row_partial = (self.parser_data.get("partials", {}).get("row")
                       or getattr(self.origin, "partial_contents", {}).get("row"))
        if row_partial is None:
            raise template.TemplateSyntaxError("{% inbox_rows %} needs a partial named \"row\" in its template.")
        rendered = []
        for row in rows:
            with context.push(row=row):
                rendered.append(row_partial.render(context))
        return mark_safe("".join(rendered))


@register.tag
def inbox_rows(parser: template.base.Parser, token: template.base.Token) -> RowsNode:
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("{% inbox_rows %} takes the rows: {% inbox_rows run.rows %}")
    return RowsNode(parser.compile_filter(bits[1]), getattr(parser, "extra_data", {}))
