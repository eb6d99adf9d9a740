"""The ``webhook`` provider and channel: a signed JSON POST per notification.

Options: ``URL`` (the site-wide endpoint), ``RECIPIENT_URL`` (a dotted path to
``callable(recipient) -> str | None``, for an endpoint per recipient; None falls back to
``URL``, and no URL at all skips the recipient), ``SECRET`` (signs every request, see
:mod:`inbox.channels.signing`) and ``TIMEOUT`` (seconds, default 5).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy

from inbox import shortcodes
from inbox.channels import http, signing, site
from inbox.channels.base import Channel, Provider, SkipDelivery
from inbox.models import Notification


def notification_data(notification: Notification, context: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON a webhook receives: what the notification says, never the recipient's other data."""
    recipient_type = ContentType.objects.get_for_id(notification.recipient_type_id)
    return {
        "id": str(notification.uid),
        "message": shortcodes.expand_text(notification.message, {"notification": notification}),
        "category": notification.category,
        "level": notification.level_name,
        "url": site.absolute(notification.url),
        "sent_at": notification.sent_at,
        "recipient": {"type": f"{recipient_type.app_label}.{recipient_type.model}",
                      "id": str(notification.recipient_id)},
        "context": dict(context),
    }


class WebhookProvider(Provider):
    name = "webhook"

    @classmethod
    def check(cls, options: Mapping[str, Any]) -> list[str]:
        problems = []
        if not options.get("URL") and not options.get("RECIPIENT_URL"):
            problems.append('set "URL" (one endpoint) or "RECIPIENT_URL" (a dotted path to a function of the recipient)')
        if options.get("URL") and not http.is_http_url(str(options["URL"])):
            problems.append('"URL" must be an http:// or https:// URL')
        if not options.get("SECRET"):
            problems.append('set "SECRET": every request is signed with it')
        if options.get("RECIPIENT_URL"):
            try:
                import_string(options["RECIPIENT_URL"])
            except ImportError as error:
                problems.append(f'"RECIPIENT_URL" cannot be imported: {error}')
        return problems

    def url_for(self, notification: Notification) -> str | None:
        if self.options.get("RECIPIENT_URL"):
            url = import_string(self.options["RECIPIENT_URL"])(notification.recipient)
            if url:
                return str(url)
        return self.options.get("URL") or None

    def build_payload(self, notification: Notification, context: Mapping[str, Any]) -> dict[str, Any]:
        url = self.url_for(notification)
        if not url:
            raise SkipDelivery("no webhook URL for this recipient")
        return {"url": url, "data": notification_data(notification, context)}

    def send(self, payload: Mapping[str, Any]) -> str | None:
        body = json.dumps(payload["data"], cls=DjangoJSONEncoder, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            signing.TIMESTAMP_HEADER: str(timestamp),
            signing.SIGNATURE_HEADER: signing.sign(self.options["SECRET"], timestamp, body),
            "User-Agent": "django-htmx-inbox webhook",
        }
        http.post(payload["url"], body, headers, float(self.options.get("TIMEOUT", 5)))
        return None


class WebhookChannel(Channel):
    name = "webhook"
    label = gettext_lazy("Webhook")
    providers = ["webhook"]
