"""The ``slack`` channel against a real HTTP server standing in for Slack's incoming webhook: no mocks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from inbox.channels import tasks
from inbox.models import Delivery
from inbox.services import notifier
from tests.sinks import HttpSink, http_sink_fixture, http_sinks_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

HOOK_PATH = "/services/T000/B000/XXXX"


@pytest.fixture
def slack(settings, http_sink: HttpSink) -> HttpSink:
    settings.INBOX = {
        "SITE_URL": "https://example.com",
        "PROVIDERS": {"slack": {"WEBHOOK_URL": f"{http_sink.url}{HOOK_PATH}", "TIMEOUT": 2}},
    }
    return http_sink


def delivery_of(user) -> Delivery:
    return Delivery.objects.get(recipient_id=str(user.pk))


def test_posts_block_kit_with_a_button_to_the_absolute_link(slack, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Build 42 passed", alice, url="/x/", channels=["slack"])

    [request] = slack.requests
    assert request.method == "POST"
    assert request.path == HOOK_PATH
    assert request.header("Content-Type") == "application/json"
    body = request.json()
    assert body["text"] == "Build 42 passed"
    section, actions = body["blocks"]
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": "Build 42 passed"}}
    assert actions["type"] == "actions"
    [button] = actions["elements"]
    assert button["type"] == "button"
    assert button["text"] == {"type": "plain_text", "text": "Open"}
    assert button["url"] == "https://example.com/x/"

    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 1


def test_button_without_link_opens_the_inbox(slack, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("No link", alice, channels=["slack"])

    button = slack.requests[0].json()["blocks"][1]["elements"][0]
    assert button["url"] == "https://example.com" + reverse("inbox:list")


@pytest.mark.parametrize(("message", "expected"), [
    ("Tom & Jerry", "Tom &amp; Jerry"),
    ("<!channel> wake up", "&lt;!channel&gt; wake up"),
    ("<https://evil.example|click here>", "&lt;https://evil.example|click here&gt;"),
    ("a>b<c", "a&gt;b&lt;c"),
    ("&amp; stays literal", "&amp;amp; stays literal"),
    ("*bold* _it_ `code` \"quoted\" 'single'", "*bold* _it_ `code` \"quoted\" 'single'"),
])
def test_mrkdwn_escapes_ampersand_and_angle_brackets(
    slack, alice, message, expected, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send(message, alice, channels=["slack"])

    body = slack.requests[0].json()
    assert body["blocks"][0]["text"]["text"] == expected


def test_answer_other_than_ok_fails_without_retry(slack, alice, django_capture_on_commit_callbacks):
    slack.answer(200, b"invalid_blocks")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Rejected", alice, channels=["slack"])

    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.FAILED
    assert "invalid_blocks" in delivery.last_error
    assert tasks.run(delivery.batch, now=delivery.updated_at + timedelta(days=1)) == {}
    assert len(slack.requests) == 1


@pytest.mark.parametrize(("status", "answer"), [(404, b"no_service"), (403, b"invalid_token"), (400, b"invalid_payload")])
def test_slack_errors_fail_without_retry(slack, alice, status, answer, django_capture_on_commit_callbacks):
    slack.answer(status, answer)
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Gone", alice, channels=["slack"])

    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 1
    assert f"HTTP {status}" in delivery.last_error


def test_rate_limit_is_retried_after_backoff(slack, alice, django_capture_on_commit_callbacks):
    slack.answer(429, b"rate_limited")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Later", alice, channels=["slack"])

    delivery = delivery_of(alice)
    assert delivery.status == Delivery.Status.PENDING
    assert "HTTP 429" in delivery.last_error

    assert tasks.run(delivery.batch, now=delivery.due_at + timedelta(seconds=1)) == {Delivery.Status.SENT: 1}
    assert len(slack.requests) == 2
    assert slack.requests[0].body == slack.requests[1].body


def test_redirect_is_not_followed(settings, http_sinks, alice, django_capture_on_commit_callbacks):
    hook, elsewhere = http_sinks(), http_sinks()
    settings.INBOX = {"SITE_URL": "https://example.com", "PROVIDERS": {"slack": {"WEBHOOK_URL": f"{hook.url}/hook"}}}
    hook.answer(302, b"", location=f"{elsewhere.url}/stolen")

    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Stay here", alice, channels=["slack"])

    assert elsewhere.requests == []
    assert delivery_of(alice).status == Delivery.Status.FAILED


def test_same_task_run_twice_sends_once(slack, alice):
    notifier.send("Once", alice, channels=["slack"])  # no on-commit callbacks: run by hand
    batch = delivery_of(alice).batch
    assert slack.requests == []

    assert tasks.run(batch) == {Delivery.Status.SENT: 1}
    assert tasks.run(batch) == {}
    tasks.deliver.call(str(batch))

    assert len(slack.requests) == 1
    assert delivery_of(alice).attempts == 1
