"""Which links a notification may carry: :func:`is_allowed_link`.

A link is shown as a clickable ``href`` on every page, toast and e-mail of the kit,
so it must never lead off-site unless the site said so, nor run script. Allowed:

- nothing (``""``: the notification has no link);
- a path on this site, starting with ``/``, ``?`` or ``#``;
- an ``http``/``https`` URL (scheme-relative ``//host`` links are refused) whose host is one of ``settings.ALLOWED_HOSTS`` (exact entries
  only) or ``INBOX["LINK_HOSTS"]``.

The host check is Django's own ``url_has_allowed_host_and_scheme``, which knows how
browsers read ``/\\evil.example``, ``//evil.example``, ``///evil.example`` and
``http:evil.example`` as off-site links.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme

from inbox import conf

#: The longest link accepted; the same as ``Notification.url``'s column.
MAX_LINK_LENGTH = 2000

# A relative link must say where it is rooted: "reply/1" would resolve against
# whichever page shows it (the list, a detail page, an e-mail), so each would go elsewhere.
_RELATIVE_STARTS = ("/", "?", "#")


def link_hosts() -> set[str]:
    """The hosts (lower-cased, with any port as written) an absolute link may name."""
    hosts = {host for host in settings.ALLOWED_HOSTS if _is_exact_host(host)}
    hosts.update(conf.get("LINK_HOSTS"))
    return {host.lower() for host in hosts if isinstance(host, str) and host}


def _is_exact_host(host: str) -> bool:
    # ALLOWED_HOSTS says which Host headers the site answers, not where it may send people:
    # "*" would allow a link to any host at all, and ".example.com" any subdomain, which on
    # many sites includes pages users control (user.example.com). Such a site lists the hosts
    # a link may go to in INBOX["LINK_HOSTS"] instead.
    return bool(host) and "*" not in host and not host.startswith(".")


def is_allowed_link(url: str) -> bool:
    """Whether ``url`` may be stored and shown as a notification's link (see the module docstring)."""
    if url == "":
        return True
    if not isinstance(url, str) or len(url) > MAX_LINK_LENGTH:
        return False
    # Browsers silently drop tabs and newlines inside a URL and ignore leading control
    # characters, so "/\t/evil.example" opens as "//evil.example"; a link that needs any
    # whitespace or control character should be percent-encoded, so refuse them outright.
    if any(char.isspace() or unicodedata.category(char)[0] == "C" for char in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return False
    if not parts.scheme and not parts.netloc and not url.startswith(_RELATIVE_STARTS):
        return False
    # A scheme-relative link ("//host/path", or "//" alone, which Django lets through as it
    # names no host) depends on how the page was opened; an absolute link must name its scheme.
    if url.replace("\\", "/").startswith("//"):
        return False
    hosts = link_hosts()
    # Host names are case-insensitive but Django compares the netloc exactly: allow the
    # spelling this URL uses when it names an allowed host. Django still checks everything
    # else (scheme, backslashes, slashes) on the URL as given.
    if parts.netloc.lower() in hosts:
        hosts.add(parts.netloc)
    return url_has_allowed_host_and_scheme(url, allowed_hosts=hosts, require_https=False)
