"""The ``webhook`` channel against a real HTTP server on a loopback port: no mocks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from inbox.channels import signing, tasks
from inbox.models import Delivery, Notification
from inbox.services import notifier
from tests.sinks import HttpSink, http_sink_fixture, http_sinks_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

SECRET = "whsec-test-1234"

#: What ``recipient_hook`` answers, by username (set per test).
HOOKS: dict[str, str | None] = {}


def recipient_hook(recipient) -> str | None:
    return HOOKS.get(recipient.username)


@pytest.fixture
def hooks() -> Iterator[dict[str, str | None]]:
    HOOKS.clear()
    yield HOOKS
    HOOKS.clear()


def use_webhook(settings, **options) -> None:
    settings.INBOX = {
        "SITE_URL": "https://example.com",
        "PROVIDERS": {"webhook": {"SECRET": SECRET, "TIMEOUT": 2, **options}},
    }


@pytest.fixture
def webhook(settings, http_sink: HttpSink) -> HttpSink:
    use_webhook(settings, URL=f"{http_sink.url}/hook")
    return http_sink


def delivery_of(user) -> Delivery:
    return Delivery.objects.get(recipient_id=str(user.pk))


def later(delivery: Delivery) -> datetime:
    """A moment past the delivery's backoff: when a worker would try it again."""
    return delivery.due_at + timedelta(seconds=1)


def test_body_is_the_notification_as_json(webhook, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Deploy <done> & \"ok\"", alice, url="/x/", category="deploys", channels=["webhook"],
                      context={"build": 42})

    [request] = webhook.requests
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent") == "django-htmx-inbox webhook"
    notification = Notification.objects.get()
    body = request.json()
    assert set(body) == {"id", "message", "category", "level", "url", "sent_at", "recipient", "context"}
    assert body["id"] == str(notification.uid)
    assert body["message"] == 'Deploy <done> & "ok"'
    assert body["category"] == "deploys"
    assert body["level"] == "info"
    assert body["url"] == "https://example.com/x/"
    assert abs(parse_datetime(body["sent_at"]) - notification.sent_at) < timedelta(milliseconds=1)
    assert set(body["recipient"]) == {"type", "id"}
    assert body["recipient"]["type"] == "auth.user"
    assert str(body["recipient"]["id"]) == str(alice.pk)
    assert body["context"] == {"build": 42}
    # Nothing else about the recipient leaks out.
    assert "alice" not in request.body.decode()

    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 1


def test_signature_verifies_with_the_secret_only(webhook, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Signed", alice, channels=["webhook"])

    [request] = webhook.requests
    timestamp = request.header(signing.TIMESTAMP_HEADER)
    signature = request.header(signing.SIGNATURE_HEADER)
    assert timestamp and signature and signature.startswith("sha256=")
    assert signing.verify(SECRET, timestamp, signature, request.body)
    # The documented scheme, computed independently: HMAC-SHA256 of "<timestamp>." + body.
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    assert not signing.verify("another-secret", timestamp, signature, request.body)
    assert not signing.verify(SECRET, timestamp, signature, request.body.replace(b"Signed", b"Forged"))
    assert not signing.verify(SECRET, str(int(timestamp) + 1), signature, request.body)
    # An old request is refused even with the right secret (a replay).
    assert not signing.verify(SECRET, timestamp, signature, request.body, now=int(timestamp) + signing.TOLERANCE + 1)


def test_server_error_is_retried_after_backoff_until_sent(webhook, alice, django_capture_on_commit_callbacks):
    webhook.answer(500, b"oops")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Retry me", alice, channels=["webhook"])

    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempts == 1
    assert "HTTP 500" in delivery.last_error
    assert delivery.due_at > timezone.now()
    assert len(webhook.requests) == 1

    assert tasks.run(delivery.batch) == {}  # before the backoff: not tried
    assert len(webhook.requests) == 1

    assert tasks.run(delivery.batch, now=later(delivery)) == {Delivery.Status.SENT: 1}
    first, second = webhook.requests
    assert first.body == second.body
    assert signing.verify(SECRET, second.header(signing.TIMESTAMP_HEADER), second.header(signing.SIGNATURE_HEADER),
                          second.body)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 2
    assert delivery.last_error == ""


@pytest.mark.parametrize("status", [408, 425, 429, 500, 501, 502, 503, 504, 507])
def test_busy_answers_are_retried(webhook, alice, status, django_capture_on_commit_callbacks):
    webhook.answer(status)
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Busy", alice, channels=["webhook"])

    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.PENDING
    assert f"HTTP {status}" in delivery.last_error


def test_timeouts_are_retried_then_failed(settings, http_sink, alice, django_capture_on_commit_callbacks):
    use_webhook(settings, URL=f"{http_sink.url}/slow", TIMEOUT=0.5)
    settings.INBOX = {**settings.INBOX, "DELIVERY_MAX_ATTEMPTS": 2}
    http_sink.answer(200, delay=30, times=2)  # far past the timeout; the sink cuts it short when stopped

    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Slow", alice, channels=["webhook"])

    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempts == 1
    assert "timed out" in delivery.last_error

    assert tasks.run(delivery.batch, now=later(delivery)) == {Delivery.Status.FAILED: 1}
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 2
    assert "timed out" in delivery.last_error
    assert len(http_sink.requests) == 2

    assert tasks.run(delivery.batch, now=later(delivery) + timedelta(days=1)) == {}  # failed for good
    assert len(http_sink.requests) == 2


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_not_followed_and_fails_for_good(
    settings, http_sinks, alice, status, django_capture_on_commit_callbacks
):
    hook, elsewhere = http_sinks(), http_sinks()
    use_webhook(settings, URL=f"{hook.url}/hook")
    hook.answer(status, b"", location=f"{elsewhere.url}/stolen")

    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Secret payload", alice, channels=["webhook"])

    assert hook.paths() == ["/hook"]
    assert elsewhere.requests == []  # the redirect target received nothing
    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 1
    assert f"HTTP {status}" in delivery.last_error
    assert "redirect" in delivery.last_error

    assert tasks.run(delivery.batch, now=delivery.updated_at + timedelta(days=1)) == {}  # no retry
    assert hook.paths() == ["/hook"]
    assert elsewhere.requests == []


def test_redirect_to_same_server_is_not_followed(webhook, alice, django_capture_on_commit_callbacks):
    webhook.answer(302, b"", location="/target")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Stay", alice, channels=["webhook"])

    assert webhook.paths() == ["/hook"]
    assert delivery_of(alice).status == Delivery.Status.FAILED


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_client_error_fails_without_retry(webhook, alice, status, django_capture_on_commit_callbacks):
    webhook.answer(status, b"bad request")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Rejected", alice, channels=["webhook"])

    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 1
    assert f"HTTP {status}" in delivery.last_error

    assert tasks.run(delivery.batch, now=delivery.updated_at + timedelta(days=1)) == {}
    assert len(webhook.requests) == 1


def test_nothing_listening_is_retried(settings, alice, django_capture_on_commit_callbacks):
    from tests.services import free_port

    use_webhook(settings, URL=f"http://127.0.0.1:{free_port()}/hook")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Down", alice, channels=["webhook"])

    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempts == 1
    assert "cannot connect" in delivery.last_error


def test_recipient_url_per_recipient_falls_back_to_url(
    settings, http_sink, hooks, alice, bob, carol, django_capture_on_commit_callbacks
):
    use_webhook(settings, URL=f"{http_sink.url}/site", RECIPIENT_URL=f"{__name__}.recipient_hook")
    hooks["alice"] = f"{http_sink.url}/alice"
    hooks["carol"] = f"{http_sink.url}/carol"
    # bob: None, so the site-wide URL

    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Per recipient", [alice, bob, carol], channels=["webhook"])

    by_recipient = {str(request.json()["recipient"]["id"]): request.path for request in http_sink.requests}
    assert by_recipient == {str(alice.pk): "/alice", str(bob.pk): "/site", str(carol.pk): "/carol"}
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def test_recipient_without_url_is_skipped(settings, http_sink, hooks, alice, bob, django_capture_on_commit_callbacks):
    use_webhook(settings, RECIPIENT_URL=f"{__name__}.recipient_hook")  # no site-wide URL
    hooks["alice"] = f"{http_sink.url}/alice"

    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Only alice", [alice, bob], channels=["webhook"])

    assert http_sink.paths() == ["/alice"]
    assert delivery_of(alice).status == Delivery.Status.SENT
    skipped = delivery_of(bob)
    assert skipped.status == Delivery.Status.SKIPPED
    assert skipped.last_error == "no webhook URL for this recipient"


def test_one_failure_does_not_stop_the_others(settings, http_sink, hooks, alice, bob, django_capture_on_commit_callbacks):
    use_webhook(settings, RECIPIENT_URL=f"{__name__}.recipient_hook")
    hooks["alice"] = f"{http_sink.url}/alice"
    hooks["bob"] = f"{http_sink.url}/bob"
    http_sink.answer(400)  # the first request, whichever it is

    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Both", [alice, bob], channels=["webhook"])

    assert sorted(http_sink.paths()) == ["/alice", "/bob"]
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == [Delivery.Status.FAILED, Delivery.Status.SENT]


def test_same_task_run_twice_sends_once(webhook, alice):
    notifier.send("Once", alice, channels=["webhook"])  # no on-commit callbacks: run by hand
    batch = delivery_of(alice).batch
    assert webhook.requests == []

    assert tasks.run(batch) == {Delivery.Status.SENT: 1}
    assert tasks.run(batch) == {}
    tasks.deliver.call(str(batch))

    assert len(webhook.requests) == 1
    assert delivery_of(alice).attempts == 1


@pytest.mark.parametrize("url", ["file:///etc/hostname", "data:text/plain,ok"])
def test_only_http_urls_are_delivered(settings, hooks, alice, url, django_capture_on_commit_callbacks):
    use_webhook(settings, RECIPIENT_URL=f"{__name__}.recipient_hook")
    hooks["alice"] = url
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Where to?", alice, channels=["webhook"])

    assert delivery_of(alice).status in (Delivery.Status.FAILED, Delivery.Status.SKIPPED)
