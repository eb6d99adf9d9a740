"""POSTing JSON for the webhook and Slack providers: a timeout, no redirects, failures sorted
into "try again later" and "give up"."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from inbox.channels.base import DeliveryError

#: Answers worth another try besides any 5xx: the receiver timed out, is not ready or rate limits.
RETRY_STATUSES = {408, 425, 429}


def is_http_url(url: str) -> bool:
    return url.lower().startswith(("https://", "http://"))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A webhook that redirects elsewhere is not followed: the body and its signature would go
    # to a URL nobody configured.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
    """POST ``body``; return the status and the first 64 KB of the answer, or raise DeliveryError."""
    if not is_http_url(url):
        # urllib also opens file:, data: and ftp: URLs; a webhook is only ever HTTP.
        raise DeliveryError(f"not an http(s) URL: {url[:100]!r}", retry=False)
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, response.read(65536)
    except urllib.error.HTTPError as error:
        status = error.code
        if 300 <= status < 400:
            raise DeliveryError(f"HTTP {status}: redirects are not followed", retry=False) from None
        raise DeliveryError(f"HTTP {status}", retry=status >= 500 or status in RETRY_STATUSES) from None
    except TimeoutError as error:
        raise DeliveryError(f"timed out after {timeout:g} s") from error
    except urllib.error.URLError as error:
        raise DeliveryError(f"cannot connect: {error.reason}") from error
    except OSError as error:
        raise DeliveryError(f"connection failed: {error}") from error
