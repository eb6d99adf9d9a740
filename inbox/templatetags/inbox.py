"""``{% load inbox %}``: the kit's tags. Each renders a named partial a site can override."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.contrib.messages import get_messages
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from inbox import conf, recipients, stats
from inbox.links import is_allowed_link
from inbox.models import Notification

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
    from django.utils.translation import gettext as _

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
    }


@register.simple_tag(takes_context=True)
def notification_badge(context: template.Context) -> SafeString:
    """A bell linking to the inbox, with the unread count from Stats (one query) and an accessible label."""
    request = _request(context)
    if request is None or not recipients.for_request(request):
        return mark_safe("")
    return mark_safe(render_to_string("inbox/badge.html#badge", {"inbox_counts": _counts(context)}, request=request))


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
        Notification.objects.recipients(who).sent().active().only(
            "uid", "message", "read_at", "sent_at", "level", "recipient_type", "recipient_id"
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


@register.filter
def badge_number(count: int) -> str:
    return "99+" if count > 99 else str(count)
