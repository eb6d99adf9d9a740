"""The ``slack`` provider and channel: an incoming webhook, the message as Block Kit with a link back.

Options: ``WEBHOOK_URL`` (from Slack's "Incoming Webhooks"), ``TIMEOUT`` (seconds, default 5).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inbox import shortcodes
from inbox.channels import http, site
from inbox.channels.base import Channel, DeliveryError, Provider
from inbox.models import Notification


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: only &, < and > are special."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackProvider(Provider):
    name = "slack"

    @classmethod
    def check(cls, options: Mapping[str, Any]) -> list[str]:
        url = options.get("WEBHOOK_URL") or ""
        return [] if url.startswith(("https://", "http://")) else [
            'set "WEBHOOK_URL" to the incoming webhook\'s https:// URL'
        ]

    def build_payload(self, notification: Notification, context: Mapping[str, Any]) -> dict[str, Any]:
        link = site.absolute(notification.url) or site.inbox_url()
        text = escape(shortcodes.expand_text(notification.message, {"notification": notification}))
        return {
            "text": text,  # the fallback phones show; Slack reads it as mrkdwn too
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                {"type": "actions", "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": _("Open")}, "url": link},
                ]},
            ],
        }

    def send(self, payload: Mapping[str, Any]) -> str | None:
        status, answer = http.post(
            self.options["WEBHOOK_URL"], json.dumps(payload).encode(), {}, float(self.options.get("TIMEOUT", 5))
        )
        if answer.strip() not in (b"ok", b""):
            raise DeliveryError(f"Slack answered {answer[:200]!r}", retry=False)
        return None


class SlackChannel(Channel):
    name = "slack"
    label = gettext_lazy("Slack")
    providers = ["slack"]
