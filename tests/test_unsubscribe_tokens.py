"""One-click unsubscribe tokens (inbox.unsubscribe) and the RFC 8058 headers on real e-mail.

A token is the only authority for turning something off without a login: forged, edited,
expired or malformed ones are refused, and none can be made for another recipient, category or
channel by changing it."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.urls import reverse

from inbox import unsubscribe
from inbox.services import notifier
from inbox.unsubscribe import BadUnsubscribeToken, Unsubscription
from tests.sinks import email_settings_fixture, smtp_sink_fixture  # noqa: F401

KEY = (7, "42")


def test_a_token_reads_back_what_it_was_made_for() -> None:
    token = unsubscribe.make_token(KEY, "comments", "email")
    assert unsubscribe.read_token(token) == Unsubscription(7, "42", "comments", "email")
    assert unsubscribe.read_token(token).recipient_key == KEY
    # The whole channel (a digest): category "".
    assert unsubscribe.read_token(unsubscribe.make_token(KEY, "", "email")).category == ""
    # It fits in a URL path segment.
    assert "/" not in token and len(token) < 200


def test_a_token_signed_with_another_key_or_salt_is_refused(settings: Any) -> None:
    payload = [7, "42", "comments", "email"]
    with pytest.raises(BadUnsubscribeToken):
        unsubscribe.read_token(signing.dumps(payload, salt="another.salt", compress=True))
    with pytest.raises(BadUnsubscribeToken):
        unsubscribe.read_token(signing.dumps(payload, key="not-the-site-key", salt=unsubscribe.SALT, compress=True))
    # The same payload signed properly is accepted: the refusals above were about the signature.
    assert unsubscribe.read_token(signing.dumps(payload, salt=unsubscribe.SALT)).category == "comments"


def test_an_expired_token_is_refused(settings: Any) -> None:
    token = unsubscribe.make_token(KEY, "comments", "email")
    with pytest.raises(BadUnsubscribeToken, match="expired"):
        unsubscribe.read_token(token, max_age=-1)
    settings.INBOX = {"UNSUBSCRIBE_MAX_AGE": 60}
    old = signing.TimestampSigner(salt=unsubscribe.SALT)
    old.timestamp = lambda: signing.b62_encode(int(time.time()) - 61)  # type: ignore[method-assign]
    stale = old.sign_object([7, "42", "comments", "email"], compress=True)
    with pytest.raises(BadUnsubscribeToken, match="expired"):
        unsubscribe.read_token(stale)
    assert unsubscribe.read_token(stale, max_age=120).channel == "email"


@pytest.mark.parametrize("part, replacement", [(0, 8), (1, "43"), (2, "mentions"), (3, "slack")])
def test_editing_the_recipient_category_or_channel_breaks_the_signature(part: int, replacement: Any) -> None:
    token = unsubscribe.make_token(KEY, "comments", "email")
    encoded, timestamp, signature = token.split(":")
    payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    payload[part] = replacement
    edited = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    with pytest.raises(BadUnsubscribeToken):
        unsubscribe.read_token(f"{edited}:{timestamp}:{signature}")
    # Nor can the signature of one token be moved onto another's payload.
    other = unsubscribe.make_token((7, "43"), "comments", "email")
    with pytest.raises(BadUnsubscribeToken):
        unsubscribe.read_token(f"{other.split(':')[0]}:{timestamp}:{signature}")


@pytest.mark.parametrize(
    "token",
    ["", "x", ":::", "abc:def", "a" * 10_000, "a\0b:c:d", "\0", "\ud800:x:y", "é:é:é", "../../etc/passwd",
     None, 42, b"bytes", ["list"]],
)
def test_malformed_tokens_are_refused_cleanly(token: Any) -> None:
    with pytest.raises(BadUnsubscribeToken):
        unsubscribe.read_token(token)


def test_a_validly_signed_payload_of_the_wrong_shape_is_refused() -> None:
    for payload in ([7, "42", "comments"], {"r": 7}, [True, "42", "c", "email"], [7, "", "c", "email"],
                    [7, "42", "not a slug", "email"], [7, "42", "c", ""], [7, "x" * 65, "c", "email"]):
        with pytest.raises(BadUnsubscribeToken):
            unsubscribe.read_token(signing.dumps(payload, salt=unsubscribe.SALT))


def test_headers_are_rfc_8058_one_click(settings: Any) -> None:
    settings.INBOX = {"SITE_URL": "https://example.com/"}
    headers = unsubscribe.headers(KEY, "comments", "email")
    assert set(headers) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    value = headers["List-Unsubscribe"]
    assert value.startswith("<") and value.endswith(">")
    assert unsubscribe.read_token(token_of(value[1:-1])) == Unsubscription(7, "42", "comments", "email")


# -- On real e-mail ------------------------------------------------------------------------------


def token_of(url: str) -> str:
    prefix = "https://example.com" + reverse("inbox:unsubscribe", kwargs={"token": "T"})[:-2]
    assert url.startswith(prefix) and url.endswith("/")
    return url[len(prefix):-1]


@pytest.mark.django_db
def test_a_delivered_message_carries_the_headers_and_the_links(
    email_settings: Any, settings: Any, alice: User, django_capture_on_commit_callbacks: Any
) -> None:
    settings.INBOX = {**settings.INBOX, "CATEGORIES": [{"slug": "comments", "label": "Comments"}]}
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("New comment", alice, category="comments", channels=("email",))

    [mail] = email_settings.messages
    message = mail.message
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = message["List-Unsubscribe"].strip()  # a long header is folded; unfolding leaves the space
    assert header.startswith("<https://") and header.endswith(">")
    url = header[1:-1]
    expected = Unsubscription(ContentType.objects.get_for_model(alice).pk, str(alice.pk), "comments", "email")
    assert unsubscribe.read_token(token_of(url)) == expected

    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert f"Unsubscribe from Comments e-mails: {url}" in text
    assert f'href="{url}"' in html and "Unsubscribe from Comments e-mails" in html
    preferences_url = "https://example.com" + reverse("inbox:preferences")
    assert f"Manage your notification settings: {preferences_url}" in text
    assert f'href="{preferences_url}"' in html


@pytest.mark.django_db
def test_a_locked_category_s_message_has_no_one_click_unsubscribe(
    email_settings: Any, settings: Any, alice: User, django_capture_on_commit_callbacks: Any
) -> None:
    settings.INBOX = {**settings.INBOX, "CATEGORIES": [{"slug": "security", "locked": True}]}
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("New sign-in", alice, category="security", channels=("email",))

    message = email_settings.messages[0].message
    assert message["List-Unsubscribe-Post"] is None
    assert message["List-Unsubscribe"].strip() == "<https://example.com" + reverse("inbox:preferences") + ">"
    assert "Unsubscribe from" not in message.get_body(("plain",)).get_content()
