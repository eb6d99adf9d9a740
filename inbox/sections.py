"""Extra sections on a notification's detail page, added by optional apps.

``inbox.contrib.messages`` adds a conversation with a reply form; a site can add its own::

    from inbox import sections

    @sections.register
    def order_summary(request, notification):
        if notification.category != "orders":
            return None                      # nothing for this notification
        return render_to_string("shop/order_section.html", {"notification": notification}, request=request)

A section is called with the request and a notification the requester may see, and returns HTML
(escaped by the section's own template) or None. Sections show in the order they were registered.
One registered with ``replaces_thread=True`` takes the place of the page's "Thread" timeline
whenever it has something to show (a conversation is that notification's thread).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.utils.safestring import SafeString, mark_safe

if TYPE_CHECKING:
    from django.http import HttpRequest

    from inbox.models import Notification

Section = Callable[["HttpRequest", "Notification"], "str | None"]

_registered: dict[Section, bool] = {}  # section -> replaces_thread, in registration order


def register(section: Section | None = None, *, replaces_thread: bool = False) -> Any:
    """Add ``section`` to every detail page (once, however often it is registered); also a decorator,
    with or without arguments."""
    def add(function: Section) -> Section:
        _registered[function] = replaces_thread
        return function

    return add if section is None else add(section)


def unregister(section: Section) -> None:
    _registered.pop(section, None)


@dataclasses.dataclass(frozen=True)
class Rendered:
    html: list[SafeString]
    replaces_thread: bool


def render(request: HttpRequest, notification: Notification) -> Rendered:
    """The HTML of every section that has something for ``notification``."""
    html, replaces = [], False
    for section, replaces_thread in list(_registered.items()):
        output = section(request, notification)
        if output:
            # A section renders its own template (autoescaped), as a template tag would.
            html.append(mark_safe(output))
            replaces = replaces or replaces_thread
    return Rendered(html, replaces)
