"""inbox.links.is_allowed_link: what a notification's link may be (issue 8, defect 8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox.links import MAX_LINK_LENGTH, is_allowed_link, link_hosts


@pytest.fixture(autouse=True)
def hosts(settings):
    settings.ALLOWED_HOSTS = ["example.com", "www.example.com:8443", ".wild.example", "*", "*.star.example"]
    settings.INBOX = {"LINK_HOSTS": ["cdn.partner.example"]}


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/",
        "/inbox/1/",
        "/articles/1/?tab=comments#c3",
        "/search?q=%20spaced%20",
        "?page=2",
        "#top",
        "https://example.com/",
        "http://example.com/path",
        "HTTPS://example.com/upper-scheme",
        "https://EXAMPLE.com/case-insensitive-host",
        "https://www.example.com:8443/with-listed-port",
        "https://cdn.partner.example/file.pdf",
        "/caf%C3%A9/",
        "/café/",  # a non-ASCII path on this site is still this site
    ],
)
def test_allowed(url):
    assert is_allowed_link(url)


@pytest.mark.parametrize(
    "url",
    [
        # The two the old regex accepted: browsers read "\" as "/" and drop tabs and newlines.
        "/\\evil.example",
        "/\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        # Scheme-relative and its variants.
        "//evil.example",
        "//example.com/",  # even to an allowed host: an absolute link names its scheme
        "//",
        "///evil.example",
        "\\\\evil.example",
        "\\/evil.example",
        "/\\/evil.example",
        # Script and data.
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "mailto:someone@example.com",
        "ftp://example.com/",
        # A scheme without a host: Chrome treats what follows as the host.
        "http:evil.example",
        "https:/evil.example",
        "http:///evil.example",
        # Hosts not allowed, or only allowed through a wildcard entry.
        "https://evil.example/",
        "https://example.com.evil.example/",
        "https://example.com@evil.example/",
        "https://evil.example@example.com:80@evil.example/",
        "https://example.com:8000/unlisted-port",
        "https://sub.wild.example/",
        "https://wild.example/",
        "https://a.star.example/",
        "https://anything.example/",
        # Internationalised look-alikes: never equal to a listed host.
        "https://exаmple.com/",  # Cyrillic "а"
        "https://ｅｘａｍｐｌｅ.com/",  # full-width letters
        "https://example。com/",  # ideographic full stop
        "https://xn--exmple-cua.com/",
        "https://example.com\uff0f@evil.example/",
        # Whitespace and control characters, anywhere.
        " /inbox/",
        "/inbox/ ",
        " //evil.example",
        "\x00/inbox/",
        "/inbox/\x00",
        "\x01//evil.example",
        "/in box/",
        "/inbox/\u200b",  # zero-width space (a format character)
        "\u202e/inbox/",  # right-to-left override
        "/inbox/\u00a0",  # no-break space
        # Relative links that would resolve differently on each page.
        "inbox/1/",
        "evil.example",
        # Too long.
        "/" + "a" * MAX_LINK_LENGTH,
    ],
)
def test_refused(url):
    assert not is_allowed_link(url)


def test_the_longest_allowed_length():
    assert is_allowed_link("/" + "a" * (MAX_LINK_LENGTH - 1))


@pytest.mark.parametrize("value", [None, 1, b"/inbox/", ["/inbox/"]])
def test_non_strings_are_refused(value):
    assert not is_allowed_link(value)


def test_wildcard_and_subdomain_entries_are_ignored():
    assert link_hosts() == {"example.com", "www.example.com:8443", "cdn.partner.example"}


def test_no_allowed_hosts_means_paths_only(settings):
    settings.ALLOWED_HOSTS = []
    settings.INBOX = {}
    assert is_allowed_link("/inbox/")
    assert not is_allowed_link("https://example.com/")


_PIECES = ["/", "\\", ":", "http", "https", "//", "example.com", "EXAMPLE.COM", "evil.example", "@", "\t", " ",
           "#", "?", "javascript", "%2F", ".", "\x00", "ｅ", ":8443", "www.", "cdn.partner.example"]


@given(st.text(max_size=60) | st.lists(st.sampled_from(_PIECES), max_size=8).map("".join))
def test_anything_allowed_stays_on_listed_hosts(url):
    """Whatever is allowed is a rooted path or names a listed host over http(s)."""
    if not is_allowed_link(url):
        return
    from urllib.parse import urlsplit

    parts = urlsplit(url.replace("\\", "/"))
    if parts.netloc:
        assert parts.scheme in ("http", "https")
        assert parts.netloc.lower() in {"example.com", "www.example.com:8443", "cdn.partner.example"}
    else:
        assert not parts.scheme
        assert url == "" or url[0] in "/?#"
        assert not url.startswith("//")
