"""Delivery channels: e-mail, webhooks, Slack, the console, and a site's own.

``notifier.send(..., channels=("email",))`` writes one :class:`~inbox.models.Delivery` per
recipient, channel and provider with the notifications, and after commit enqueues delivery tasks
on Django's Tasks API (:mod:`inbox.channels.tasks`). See docs/channels.md.
"""

from inbox.channels.base import Channel, DeliveryError, Outcome, Provider, SkipDelivery

# The built-in providers, each also a channel of the same name (registered on import).
from inbox.channels import console, email, slack, webhook  # noqa: E402, F401  isort: skip

__all__ = ["Channel", "DeliveryError", "Outcome", "Provider", "SkipDelivery"]
