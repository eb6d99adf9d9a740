"""The ``email`` channel against a real SMTP server (aiosmtpd on a loopback port): no mocks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from inbox import unsubscribe
from inbox.channels import tasks
from inbox.models import Delivery
from inbox.services import notifier
from tests.services import free_port
from tests.sinks import SmtpSink, email_settings_fixture, smtp_sink_fixture, use_smtp  # noqa: F401

pytestmark = pytest.mark.django_db


def with_address(user, address):
    user.email = address
    user.save(update_fields=["email"])
    return user


def delivery_of(user) -> Delivery:
    return Delivery.objects.get(recipient_id=str(user.pk))


def test_message_has_subject_text_and_escaped_html(email_settings, alice, django_capture_on_commit_callbacks):
    with_address(alice, "alice@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Build <script>alert(1)</script> & co", alice, url="/x/", channels=["email"])

    [mail] = email_settings.messages
    assert mail.mail_from == "inbox@example.com"
    assert mail.rcpt_tos == ["alice@example.org"]
    message = mail.message
    assert message["Subject"] == "Build <script>alert(1)</script> & co"
    assert message["To"] == "alice@example.org"
    assert message.get_content_type() == "multipart/alternative"

    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Build <script>alert(1)</script> & co")  # plain text is not HTML-escaped

    html = message.get_body(("html",)).get_content()
    assert "Build &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "<script>" not in html
    assert "alert(1)</script>" not in html


def test_links_are_absolute_on_site_url(email_settings, alice, django_capture_on_commit_callbacks):
    with_address(alice, "alice@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("See this", alice, url="/x/", channels=["email"])

    message = email_settings.messages[0].message
    inbox = "https://example.com" + reverse("inbox:list")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "https://example.com/x/" in text
    assert 'href="https://example.com/x/"' in html
    assert 'href="/x/"' not in html
    assert f'href="{inbox}"' in html
    assert inbox in text


def test_list_unsubscribe_header(email_settings, alice, django_capture_on_commit_callbacks):
    with_address(alice, "alice@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Hello", alice, channels=["email"])

    message = email_settings.messages[0].message
    # RFC 8058 one-click: a signed link for this recipient, no category (the whole channel), e-mail.
    header = message["List-Unsubscribe"].strip()  # a long header is folded: unfolding leaves a space
    prefix = "<https://example.com" + reverse("inbox:unsubscribe", kwargs={"token": "T"})[:-2]
    assert header.startswith(prefix) and header.endswith("/>")
    assert unsubscribe.read_token(header[len(prefix):-2]) == unsubscribe.Unsubscription(
        ContentType.objects.get_for_model(alice).pk, str(alice.pk), "", "email"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_message_id_is_recorded_on_the_delivery(email_settings, alice, django_capture_on_commit_callbacks):
    with_address(alice, "alice@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Hello", alice, channels=["email"])

    [mail] = email_settings.messages
    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 1
    assert delivery.last_error == ""
    assert delivery.sent_at is not None
    assert delivery.provider_message_id == mail.message["Message-ID"]
    assert delivery.provider_message_id.startswith("<")
    assert delivery.provider_message_id.endswith("@example.com>")  # the SITE_URL's domain


def test_multiline_message_makes_a_one_line_subject(email_settings, alice, django_capture_on_commit_callbacks):
    with_address(alice, "alice@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("line one\nBcc: mallory@example.net", alice, channels=["email"])

    [mail] = email_settings.messages
    assert mail.message["Subject"] == "line one Bcc: mallory@example.net"
    assert mail.message["Bcc"] is None
    assert mail.rcpt_tos == ["alice@example.org"]


def test_three_recipients_share_one_smtp_connection(
    email_settings, alice, bob, carol, django_capture_on_commit_callbacks
):
    users = [with_address(user, f"{user.username}@example.org") for user in (alice, bob, carol)]
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Hello all", users, channels=["email"])

    assert sorted(rcpt for mail in email_settings.messages for rcpt in mail.rcpt_tos) == [
        "alice@example.org", "bob@example.org", "carol@example.org",
    ]
    assert email_settings.connections == 1
    assert len({mail.peer for mail in email_settings.messages}) == 1
    deliveries = list(Delivery.objects.all())
    assert len({delivery.batch for delivery in deliveries}) == 1
    assert {delivery.status for delivery in deliveries} == {Delivery.Status.SENT}
    assert {delivery.provider_message_id for delivery in deliveries} == {
        mail.message["Message-ID"] for mail in email_settings.messages
    }
    assert len({delivery.provider_message_id for delivery in deliveries}) == 3


def test_recipient_without_address_is_skipped(email_settings, alice, bob, django_capture_on_commit_callbacks):
    with_address(alice, "alice@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Hello", [alice, bob], channels=["email"])

    assert [mail.rcpt_tos for mail in email_settings.messages] == [["alice@example.org"]]
    assert delivery_of(alice).status == Delivery.Status.SENT
    skipped = delivery_of(bob)
    assert skipped.status == Delivery.Status.SKIPPED
    assert skipped.last_error == "the recipient has no e-mail address"
    assert skipped.provider_message_id == ""
    assert skipped.sent_at is None


def test_server_down_leaves_deliveries_pending_with_backoff(settings, alice, bob, django_capture_on_commit_callbacks):
    port = free_port()  # nothing listens there
    use_smtp(settings, port)
    for user in (alice, bob):
        with_address(user, f"{user.username}@example.org")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notifier.send("Hello", [alice, bob], channels=["email"])  # does not raise
    assert callbacks  # the delivery task did run

    deliveries = list(Delivery.objects.all())
    assert len(deliveries) == 2
    now = timezone.now()
    for delivery in deliveries:
        assert delivery.status == Delivery.Status.PENDING
        assert delivery.attempts == 1
        assert delivery.last_error  # e.g. "ConnectionRefusedError: [Errno 111] Connection refused"
        assert delivery.due_at > now
        assert delivery.due_at - delivery.updated_at == tasks.backoff(1) == timedelta(seconds=30)
        assert delivery.claim is None and delivery.claimed_until is None
        assert delivery.sent_at is None

    batch = deliveries[0].batch
    assert tasks.run(batch) == {}  # not due yet: nothing is tried again

    # The server comes back; the retry after the backoff sends both, over one connection.
    with SmtpSink(port) as sink:
        counts = tasks.run(batch, now=deliveries[0].due_at + timedelta(seconds=1))
    assert counts == {Delivery.Status.SENT: 2}
    assert sorted(rcpt for mail in sink.messages for rcpt in mail.rcpt_tos) == ["alice@example.org", "bob@example.org"]
    assert sink.connections == 1
    for delivery in Delivery.objects.all():
        assert delivery.status == Delivery.Status.SENT
        assert delivery.attempts == 2
        assert delivery.last_error == ""


def test_same_task_run_twice_sends_once(email_settings, alice):
    with_address(alice, "alice@example.org")
    # No on-commit callbacks run here: the task is run by hand, twice.
    notifier.send("Only once", alice, channels=["email"])
    batch = delivery_of(alice).batch
    assert email_settings.messages == []

    assert tasks.run(batch) == {Delivery.Status.SENT: 1}
    assert tasks.run(batch) == {}
    tasks.deliver.call(str(batch))  # the task itself, as a worker would run it

    assert len(email_settings.messages) == 1
    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 1


def test_refused_recipient_does_not_stop_the_batch(email_settings, alice, bob, carol, django_capture_on_commit_callbacks):
    users = [with_address(user, f"{user.username}@example.org") for user in (alice, bob, carol)]
    email_settings.refuse.add("bob@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Hello all", users, channels=["email"])

    assert sorted(rcpt for mail in email_settings.messages for rcpt in mail.rcpt_tos) == [
        "alice@example.org", "carol@example.org",
    ]
    assert email_settings.connections == 1
    assert delivery_of(alice).status == Delivery.Status.SENT
    assert delivery_of(carol).status == Delivery.Status.SENT
    refused = delivery_of(bob)
    # A 5xx refusal will not change on a retry: failed at once.
    assert refused.status == Delivery.Status.FAILED
    assert refused.attempts == 1
    assert "bob@example.org" in refused.last_error
    assert "550" in refused.last_error
    assert refused.provider_message_id == ""
