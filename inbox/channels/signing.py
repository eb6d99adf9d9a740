"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, as Stripe and Slack sign theirs.

A receiver checks a request with :func:`verify`::

    from inbox.channels.signing import verify
    ok = verify(secret, request.headers["X-Inbox-Timestamp"], request.headers["X-Inbox-Signature"], request.body)
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Inbox-Timestamp"
SIGNATURE_HEADER = "X-Inbox-Signature"
#: A signature older than this many seconds is refused (a replayed request).
TOLERANCE = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of ``"<timestamp>." + body``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, timestamp: str, signature: str, body: bytes, *, now: float | None = None,
           tolerance: int = TOLERANCE) -> bool:
    """Whether ``signature`` signs ``body`` at ``timestamp`` with ``secret``, within ``tolerance`` seconds."""
    try:
        when = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - when) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, when, body), signature or "")
