"""A message's conversation on its detail page: the messages both people sent, and a reply form.

Registered with :mod:`inbox.sections` by the app's ``ready()``. A conversation is the first
message and every message whose parent it is (:func:`.sending.reply` hangs each reply there),
read with the primary key and the ``parent`` index in one query, and only the ones the reader
received or wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Q
from django.http import HttpRequest
from django.template.loader import render_to_string

from inbox import recipients
from inbox.contrib.messages import constants
from inbox.contrib.messages.forms import ReplyForm
from inbox.contrib.messages.sending import can_reply, conversation_root

if TYPE_CHECKING:
    from inbox.models import Notification

#: Messages a conversation shows, the newest kept.
LIMIT = 100


def messages_of(request: HttpRequest, notification: Notification) -> list[Notification]:
    """The conversation ``notification`` belongs to, oldest first, as the requester may see it."""
    from inbox.models import Notification as NotificationModel

    root = conversation_root(notification)
    mine = recipients.generic_q("recipient", recipients.for_request(request))
    user = request.user
    if isinstance(user, models.Model) and user.is_authenticated:
        # What the reader wrote is theirs to see again; only messages, never other notifications.
        mine |= recipients.generic_q("actor", [user])
    rows = (
        NotificationModel.objects.filter(Q(pk=root) | Q(parent_id=root))
        .filter(category=constants.CATEGORY)
        .sent()
        .unexpired()
        .filter(mine)
        .prefetch_related("actor")
        .order_by("-sent_at", "-id")[:LIMIT]
    )
    return list(reversed(list(rows)))


def section(request: HttpRequest, notification: Notification, form: ReplyForm | None = None) -> str | None:
    """The conversation section for a message; None for any other notification."""
    if notification.category != constants.CATEGORY:
        return None
    replyable = can_reply(notification, request.user)
    conversation = messages_of(request, notification)
    if not replyable and len(conversation) < 2:
        return None  # a lone message nobody can answer: the page already shows it
    user = request.user
    me = recipients.key_of(user) if isinstance(user, models.Model) and user.is_authenticated else None
    context: dict[str, Any] = {
        "notification": notification,
        "conversation": [
            {"message": message, "mine": me is not None and (message.actor_type_id, message.actor_id) == me}
            for message in conversation
        ],
        "can_reply": replyable,
        "reply_to": notification.actor if replyable else None,
        "form": form or ReplyForm(),
    }
    return render_to_string("inbox/messages/conversation.html", context, request=request)
