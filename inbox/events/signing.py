"""What makes this site's Redis traffic its own: a channel prefix and a signature from SECRET_KEY.

Two sites on one Redis (pub/sub ignores the database number) must neither hear each other nor
be able to inject toasts into each other's streams.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

PREFIX_SALT = "inbox.events.redis.prefix"
SIGNATURE_SALT = "inbox.events.redis.signature"
SEPARATOR = b"."


def default_prefix() -> str:
    """``inbox:<16 hex digits>:``, the same for every process of one deployment (same
    SECRET_KEY) and different between deployments, without anyone having to pick it."""
    return f"inbox:{salted_hmac(PREFIX_SALT, 'channels', algorithm='sha256').hexdigest()[:16]}:"


def _signature(body: bytes, secret: str | None = None) -> bytes:
    return salted_hmac(SIGNATURE_SALT, body, secret=secret, algorithm="sha256").hexdigest().encode()


def sign(body: bytes) -> bytes:
    return _signature(body) + SEPARATOR + body


def unsign(message: bytes) -> bytes | None:
    """The body, or None when the signature is not this site's (SECRET_KEY or a fallback)."""
    signature, separator, body = message.partition(SEPARATOR)
    if not separator:
        return None
    for secret in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())):
        if constant_time_compare(signature, _signature(body, secret)):
            return body
    return None
