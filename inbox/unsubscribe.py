"""One-click unsubscribe (RFC 8058): signed, expiring tokens naming one recipient, category and channel.

Every e-mail carries ``List-Unsubscribe: <https://…/inbox/unsubscribe/<token>/>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``: a mail client POSTs to that URL and the
person stops receiving that category on that channel, without signing in. The token is the only
authority, so it is signed (``django.core.signing`` with a salt of its own: a token of another
part of the site is no unsubscribe token) and carries its own time, refused after
``INBOX["UNSUBSCRIBE_MAX_AGE"]`` seconds. Editing any part of it breaks the signature.

Category "" in a token stands for the whole channel (a digest mixes categories, and a
notification without a category can only be stopped there): it turns the channel's master switch off.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.db import models
from django.urls import reverse

from inbox import categories, conf
from inbox.recipients import Key

SALT = "inbox.unsubscribe"
#: Longer than any token :func:`make_token` makes (recipient ids are at most 64 characters):
#: anything longer is refused before any work.
MAX_TOKEN_LENGTH = 500
_CHANNEL = re.compile(r"\A[-a-zA-Z0-9_.]{1,64}\Z")


class BadUnsubscribeToken(Exception):
    """The token is forged, edited, expired or not a token at all."""


@dataclasses.dataclass(frozen=True)
class Unsubscription:
    """What a valid token asks for: turn ``category`` off on ``channel`` for one recipient."""

    recipient_type_id: int
    recipient_id: str
    category: str
    channel: str

    @property
    def recipient_key(self) -> Key:
        return self.recipient_type_id, self.recipient_id

    def recipient(self) -> models.Model | None:
        """The recipient it names, or None when it no longer exists."""
        try:
            model = ContentType.objects.get_for_id(self.recipient_type_id).model_class()
        except ContentType.DoesNotExist:
            return None
        if model is None:
            return None
        try:
            return model._default_manager.filter(pk=self.recipient_id).first()
        except (ValueError, TypeError, models.ObjectDoesNotExist):  # a key its primary key cannot be
            return None


def make_token(recipient_key: Key, category: str, channel: str) -> str:
    """A signed token for turning ``category`` (or, for "", all) off on ``channel`` for the recipient."""
    type_id, object_id = recipient_key
    # A list, not a dict: the token goes in a URL, so every character counts.
    return signing.dumps([int(type_id), str(object_id), category, channel], salt=SALT, compress=True)


def read_token(token: Any, max_age: int | None = None) -> Unsubscription:
    """What ``token`` asks for, or :class:`BadUnsubscribeToken` (forged, edited, expired, malformed).

    ``max_age`` (seconds) defaults to ``INBOX["UNSUBSCRIBE_MAX_AGE"]``.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or "\0" in token:
        raise BadUnsubscribeToken("not an unsubscribe token")
    if max_age is None:
        max_age = conf.get("UNSUBSCRIBE_MAX_AGE")
    try:
        payload = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired as error:
        raise BadUnsubscribeToken("the unsubscribe link has expired") from error
    except (signing.BadSignature, ValueError, TypeError, UnicodeError, zlib.error) as error:
        # The signature is checked before anything is decoded; the rest only guards odd input.
        raise BadUnsubscribeToken("not a valid unsubscribe token") from error
    if not (
        isinstance(payload, list) and len(payload) == 4
        and isinstance(payload[0], int) and not isinstance(payload[0], bool)
        and isinstance(payload[1], str) and 0 < len(payload[1]) <= 64
        and (payload[2] == "" or categories.is_slug(payload[2]))
        and isinstance(payload[3], str) and _CHANNEL.match(payload[3])
    ):
        raise BadUnsubscribeToken("not a valid unsubscribe token")
    return Unsubscription(payload[0], payload[1], payload[2], payload[3])


def unsubscribe_url(recipient_key: Key, category: str, channel: str) -> str:
    """The absolute one-click URL (URL name ``inbox:unsubscribe``) for the recipient, category and channel."""
    from inbox.channels import site

    return site.absolute(reverse("inbox:unsubscribe", kwargs={"token": make_token(recipient_key, category, channel)}))


def headers(recipient_key: Key, category: str, channel: str) -> dict[str, str]:
    """The RFC 8058 headers of a message: a one-click POST to :func:`unsubscribe_url`."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(recipient_key, category, channel)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
