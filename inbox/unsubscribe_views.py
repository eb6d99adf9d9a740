"""The one-click unsubscribe pages that every e-mail of an unlockable category links to.

:mod:`inbox.unsubscribe` signs and reads the links; :mod:`inbox.services.preferences` stores the
choice. A bad, edited or expired link is a 400 page that changed nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from inbox import categories, conf
from inbox.channels.base import Channel
from inbox.exceptions import PreferenceError
from inbox.services import preferences
from inbox.unsubscribe import BadUnsubscribeToken, read_token

logger = logging.getLogger(__name__)


def masked_address(address: str) -> str:
    """``a•••e@example.com``: enough for its owner to recognise, little for anyone else."""
    local, _at, domain = address.rpartition("@")
    if not local:
        return "•••"
    shown = local[0] + "•••" + (local[-1] if len(local) > 2 else "")
    return f"{shown}@{domain}"


def recipient_name(recipient: models.Model, channel: str) -> str:
    """Who the page says the link is for: a masked e-mail address, or the recipient's name."""
    if channel == "email":
        try:
            address = conf.load(conf.get("EMAIL_ADDRESS_RESOLVER"))(recipient)
        except Exception:  # a site's resolver failing must not turn the page into a 500
            logger.exception("EMAIL_ADDRESS_RESOLVER failed on the unsubscribe page.")
            address = None
        if address:
            return masked_address(str(address))
    full_name = getattr(recipient, "get_full_name", None)
    name = full_name() if callable(full_name) else ""
    return str(name or recipient)


def channel_label(channel: str) -> str:
    """What the preferences page calls a channel (its name when no channel has it any more)."""
    found = Channel.registry.get(channel)
    return str(getattr(found, "label", "") or channel)


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """``unsubscribe/<token>/``: no login; the signed token names the recipient, category and channel.

    GET only shows a confirmation (mail scanners and link previews follow links: they must not
    unsubscribe anyone). POST turns that category off on that channel (a token with no category:
    the channel's master switch); ``undo=1`` turns it back on.

    CSRF is exempt on purpose: RFC 8058's one-click POST comes from a mail client, which has no
    CSRF token and no cookie. The signed, expiring token is the authority, and it only ever
    reaches the one preference of the one recipient it names.
    """

    http_method_names = ["get", "head", "post"]
    template_name = "inbox/unsubscribe.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = super().dispatch(request, *args, **kwargs)
        # The URL holds a live token: no cache may keep the page, and no link on it may pass
        # the URL on as a Referer.
        add_never_cache_headers(response)
        response["Referrer-Policy"] = "no-referrer"
        return response

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        found = self.resolve(token)
        if isinstance(found, HttpResponse):
            return found
        return self.render("confirm", token, *found)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        found = self.resolve(token)
        if isinstance(found, HttpResponse):
            return found
        recipient, unsubscription = found
        undo = request.POST.get("undo") == "1"
        try:
            with transaction.atomic():
                preferences.set_preference(recipient, unsubscription.category, unsubscription.channel, undo)
        except PreferenceError as error:
            return self.render("invalid", token, recipient, unsubscription, status=400, message=str(error))
        return self.render("resubscribed" if undo else "done", token, recipient, unsubscription)

    def resolve(self, token: str) -> tuple[models.Model, Any] | HttpResponse:
        """The recipient and what the token says, or the 400 page."""
        try:
            unsubscription = read_token(token)  # max_age: INBOX["UNSUBSCRIBE_MAX_AGE"]
        except BadUnsubscribeToken:
            return self.render("invalid", token, None, None, status=400)
        recipient = unsubscription.recipient()
        if recipient is None:
            # Signed by us, but the person (or their model) is gone.
            return self.render("invalid", token, None, None, status=400)
        return recipient, unsubscription

    def render(self, state: str, token: str, recipient: models.Model | None, unsubscription: Any, *,
               status: int = 200, message: str = "") -> HttpResponse:
        context: dict[str, Any] = {"inbox_base_template": conf.get("BASE_TEMPLATE"), "state": state,
                                   "message": message}
        if recipient is not None and unsubscription is not None:
            slug = unsubscription.category
            context.update(
                category=categories.get(slug) if slug else None,
                channel=unsubscription.channel,
                channel_label=channel_label(unsubscription.channel),
                who=recipient_name(recipient, unsubscription.channel),
                action_url=reverse("inbox:unsubscribe", args=[token]),
            )
        return HttpResponse(render_to_string(self.template_name, context, request=self.request), status=status)
