"""The messages app's views: the live list of persistent messages, dismissing one, replying.

They sit under the kit's URLs (``inbox:messages``, ``inbox:dismiss_message``, ``inbox:reply``)
when ``inbox.contrib.messages`` is installed, and see exactly what the inbox's own views see: the
requester's recipients' notifications, and 404 for anyone else's.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View

from inbox.contrib.messages import constants, conversation, sending
from inbox.contrib.messages.forms import ReplyForm
from inbox.contrib.messages.message import PersistentMessage
from inbox.services import manager
from inbox.views import BulkView, InboxViewMixin, is_htmx, render_badge, render_toast


def safe_next(request: HttpRequest, value: str | None) -> str:
    """``value`` if it is a page of this site, else the inbox: never an open redirect."""
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return reverse("inbox:list")


def unread_messages(request: HttpRequest) -> list[PersistentMessage]:
    """The requester's unread persistent messages, oldest first, as the page's storage reads them."""
    from django.contrib.messages import get_messages

    from inbox.contrib.messages.storage import PersistentStorage

    storage = get_messages(request) if hasattr(request, "_messages") else None
    if not isinstance(storage, PersistentStorage):
        storage = PersistentStorage(request)
    return storage.get_persistent_unread()


def render_persistent(request: HttpRequest, next_url: str) -> str:
    live = bool(getattr(request.user, "is_authenticated", False))
    context = {"persistent": unread_messages(request), "next": next_url, "live": live}
    return render_to_string("inbox/messages/messages.html#persistent", context, request=request)


class MessageListView(InboxViewMixin, View):
    """GET: the persistent part of ``{% inbox_messages %}``, refreshed when the inbox changes."""

    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(render_persistent(request, safe_next(request, request.GET.get("next"))))


class DismissMessageView(BulkView):
    """POST: mark one persistent message read and stay on the page that showed it.

    With htmx the answer is the page's persistent messages again (and the badge); without it a
    303 back to ``next``, which must be a page of this site.
    """

    def post(self, request: HttpRequest, uid: Any) -> HttpResponse:  # type: ignore[override]
        messages_only = self.visible().filter(category=constants.CATEGORY)
        notification = get_object_or_404(messages_only, uid=uid)
        manager.mark_read(messages_only.filter(pk=notification.pk))
        next_url = safe_next(request, request.POST.get("next"))
        if not is_htmx(request):
            return HttpResponseRedirect(next_url, status=303)
        badge = render_badge(request, self.recipients, oob=True)
        return HttpResponse(render_persistent(request, next_url) + badge)


class ReplyView(BulkView):
    """POST ``text``: answer a message from its detail page; the reply goes to its sender."""

    def post(self, request: HttpRequest, uid: Any) -> HttpResponse:  # type: ignore[override]
        notification = get_object_or_404(self.visible().filter(category=constants.CATEGORY), uid=uid)
        if not sending.can_reply(notification, request.user):
            return self.refuse(_("This message cannot be answered."))
        form = ReplyForm(request.POST)
        if not form.is_valid():
            if is_htmx(request):
                # The form again, with its error next to the field and the text kept.
                html = conversation.section(request, notification, form) or ""
                return HttpResponse(html, status=400)
            return self.refuse(" ".join(str(e) for errors in form.errors.values() for e in errors))
        assert isinstance(request.user, models.Model)  # can_reply() checked they are signed in
        sending.reply(notification, request.user, form.cleaned_data["text"])
        done = _("Reply sent to %(name)s.") % {"name": notification.actor}
        detail = reverse("inbox:detail", args=[notification.uid])
        if not is_htmx(request):
            messages.success(request, done, extra_tags="inbox")
            return HttpResponseRedirect(detail, status=303)
        html = conversation.section(request, notification) or ""
        return HttpResponse(html + render_toast(request, done, oob=True))


