"""``{% load inbox_messages %}{% inbox_messages %}``: the page's messages, persistent ones included."""

from __future__ import annotations

from django import template
from django.contrib.messages import get_messages
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from inbox.contrib.messages.message import PersistentMessage

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_messages(context: template.Context) -> SafeString:
    """Django's messages and the persistent ones, with a × that marks a persistent one read.

    Showing them uses Django's messages up, as ``{% for message in messages %}`` does; persistent
    ones stay until read. For a signed-in person the persistent list follows the inbox live
    (another tab reading one, a new one arriving).
    """
    request = context.get("request")
    if request is None or not hasattr(request, "_messages"):
        return mark_safe("")
    # A message tagged "inbox" is the kit's own confirmation ("3 marked read"): {% notification_toasts %}
    # shows it as a toast, so it is not shown twice.
    shown = [m for m in get_messages(request) if "inbox" not in (m.extra_tags or "").split()]
    user = getattr(request, "user", None)
    ctx = {
        "persistent": [m for m in shown if isinstance(m, PersistentMessage)],
        "others": [m for m in shown if not isinstance(m, PersistentMessage)],
        "next": request.get_full_path(),
        "live": bool(getattr(user, "is_authenticated", False)),
    }
    return mark_safe(render_to_string("inbox/messages/messages.html", ctx, request=request))
