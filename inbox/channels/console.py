"""The ``console`` provider and channel: prints each notification, for development."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _

from inbox import shortcodes
from inbox.channels import site
from inbox.channels.base import Channel, Provider
from inbox.models import Notification


class ConsoleProvider(Provider):
    name = "console"

    def build_payload(self, notification: Notification, context: Mapping[str, Any]) -> dict[str, Any]:
        return {"recipient": str(notification.recipient), "message": shortcodes.expand_text(notification.message, {"notification": notification}),
                "link": site.absolute(notification.url) if site.can_build_links() else notification.url, "context": dict(context)}

    def send(self, payload: Any) -> str | None:
        stream = self.options.get("STREAM") or sys.stdout
        stream.write(f"[inbox] {payload}\n")
        stream.flush()
        return None


class ConsoleChannel(Channel):
    name = "console"
    label = _("Console")
    providers = ["console"]
    # A developer's view of everything sent: preferences and digests do not apply to it.
    in_preferences = False
