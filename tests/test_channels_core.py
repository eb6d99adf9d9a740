"""Channels without an outside service: validation before writing, Delivery rows, batching,
silent sends, retries and backoff, idempotent tasks, the admin's retry, erasure, checks, and the
``inbox_deliver`` command. The providers against real servers are in test_channels_<provider>.py."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox import checks, erasure
from inbox.channels import Channel, DeliveryError, Provider, SkipDelivery, tasks
from inbox.exceptions import NotificationError
from inbox.models import Delivery, Notification
from inbox.services import notifier

pytestmark = pytest.mark.django_db

SITE = {"SITE_URL": "https://example.com"}


class RecorderProvider(Provider):
    """Keeps what it is given; told to fail for some messages."""

    name = "test-recorder"
    calls: list[list[Any]] = []
    failing: dict[str, BaseException] = {}

    def build_payload(self, notification: Notification, context: Any) -> dict[str, Any]:
        if notification.message == "skip me":
            raise SkipDelivery("nothing to send to")
        return {"to": str(notification.recipient), "message": notification.message, "context": dict(context)}

    def send(self, payload: Any) -> str | None:
        if payload["message"] in self.failing:
            raise self.failing[payload["message"]]
        return f"id-{payload['to']}"

    def send_bulk(self, payloads: Sequence[Any]) -> list[Any]:
        RecorderProvider.calls.append(list(payloads))
        return super().send_bulk(payloads)


class RecorderChannel(Channel):
    """The provider's own payloads."""

    name = "test-recorder"
    providers = ["test-recorder"]


class ShoutChannel(Channel):
    name = "test-shout"
    providers = ["test-recorder"]

    def build_payload(self, notification: Notification, provider: Provider) -> Any:
        payload = provider.build_payload(notification, self.context)
        return {**payload, "message": payload["message"].upper()}


@pytest.fixture(autouse=True)
def recorder(settings: Any) -> Iterator[type[RecorderProvider]]:
    settings.INBOX = {**SITE}
    RecorderProvider.calls = []
    RecorderProvider.failing = {}
    yield RecorderProvider


def statuses() -> list[tuple[str, str]]:
    return sorted(Delivery.objects.values_list("recipient_id", "status"))


# -- Refused before anything is written ---------------------------------------------------------


@pytest.mark.parametrize(
    "options, error",
    [
        ({"channels": ("nope",)}, "Unknown channel 'nope'"),
        ({"channels": "email"}, "not a string"),
        ({"channels": ("webhook",)}, "add 'webhook' to INBOX"),
        ({"channels": ("test-shout",), "context": {"when": object()}}, "JSON"),
        ({"channels": ("test-shout",), "countdown": -1}, "countdown"),
        ({"channels": ("test-shout",), "countdown": 60}, "run_after"),  # the immediate backend cannot wait
    ],
)
def test_bad_channel_options_write_nothing(alice: User, options: dict[str, Any], error: str) -> None:
    with pytest.raises(NotificationError, match=error):
        notifier.send("Hi", alice, **options)
    assert not Notification.objects.exists() and not Delivery.objects.exists()


def test_a_category_s_default_channels_apply_unless_channels_are_given(alice: User, settings: Any,
                                                                       django_capture_on_commit_callbacks) -> None:
    settings.INBOX = {**SITE, "CATEGORIES": [{"slug": "billing", "default_channels": ["test-shout"]}]}
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Invoice", alice, category="billing")
        notifier.send("Quiet invoice", alice, category="billing", channels=())
    assert [[p["message"] for p in call] for call in RecorderProvider.calls] == [["INVOICE"]]


# -- Rows, batches, delivery ------------------------------------------------------------------


def test_one_delivery_per_recipient_and_one_provider_call_per_batch(settings: Any,
                                                                     django_capture_on_commit_callbacks) -> None:
    settings.INBOX = {**SITE, "DELIVERY_BATCH_SIZE": 2}
    users = [User.objects.create(username=f"u{i}") for i in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        sent = notifier.send("Hello {recipient}", users, channels=("test-shout",), context={"run": 7})
    assert [len(call) for call in RecorderProvider.calls] == [2, 2, 1]
    payloads = [payload for call in RecorderProvider.calls for payload in call]
    assert sorted(p["message"] for p in payloads) == [f"HELLO U{i}" for i in range(5)]
    assert all(p["context"] == {"run": 7} for p in payloads)
    names = {str(user.pk): user.username for user in users}
    assert {(r.notification_id, r.status, r.attempts, r.provider_message_id) for r in Delivery.objects.all()} == {
        (n.pk, "sent", 1, f"id-{names[n.recipient_id]}") for n in sent
    }
    assert Delivery.objects.values("batch").distinct().count() == 3


def test_nothing_goes_out_before_commit_nor_after_a_rollback(alice: User,
                                                             django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            notifier.send("Hi", alice, channels=("test-shout",))
            assert RecorderProvider.calls == []  # still inside the transaction
    assert len(RecorderProvider.calls) == 1 and callbacks
    RecorderProvider.calls = []
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            notifier.send("Rolled back", alice, channels=("test-shout",))
            raise RuntimeError
    assert RecorderProvider.calls == [] and Delivery.objects.count() == 1


def test_silent_delivers_without_storing_a_notification(alice: User, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Psst {recipient}", alice, channels=("test-shout",), silent=True, url="/x/", level=30)
    assert not Notification.objects.exists()
    delivery = Delivery.objects.get()
    assert delivery.notification_id is None and delivery.status == "sent"
    assert delivery.snapshot["message"] == "Psst alice" and delivery.snapshot["url"] == "/x/"
    assert RecorderProvider.calls == [[{"to": "alice", "message": "PSST ALICE", "context": {}}]]


def test_the_same_batch_run_twice_sends_once(alice: User, bob: User) -> None:
    notifier.send("Once", [alice, bob], channels=("test-shout",))  # not committed in this test: run by hand
    batch = Delivery.objects.values_list("batch", flat=True).first()
    assert tasks.run(batch) == {"sent": 2}
    assert tasks.run(batch) == {}
    assert len(RecorderProvider.calls) == 1


def test_a_claimed_batch_is_not_taken_again_until_its_lease_ends(alice: User, settings: Any) -> None:
    settings.INBOX = {**SITE, "DELIVERY_LEASE": 60}
    notifier.send("Held", alice, channels=("test-shout",))
    now = timezone.now()
    assert tasks.claim(None, now) is not None  # a worker took it, then died
    assert tasks.run(None, now=now + timedelta(seconds=30)) == {}
    assert tasks.run(None, now=now + timedelta(seconds=61)) == {"sent": 1}


# -- Failures --------------------------------------------------------------------------------


def test_a_failure_waits_with_a_doubling_backoff_then_fails_for_good(alice: User, settings: Any) -> None:
    settings.INBOX = {**SITE, "DELIVERY_MAX_ATTEMPTS": 3, "DELIVERY_BACKOFF": 10, "DELIVERY_BACKOFF_MAX": 15}
    RecorderProvider.failing = {"Flaky": ConnectionError("refused")}
    notifier.send("Flaky", alice, channels=("test-recorder",))
    now = timezone.now()
    assert tasks.run(None, now=now) == {"pending": 1}
    row = Delivery.objects.get()
    assert row.attempts == 1 and row.due_at == now + timedelta(seconds=10)
    assert row.last_error == "ConnectionError: refused"
    assert tasks.run(None, now=now + timedelta(seconds=9)) == {}  # not due yet
    assert tasks.run(None, now=now + timedelta(seconds=10)) == {"pending": 1}
    assert Delivery.objects.get().due_at == now + timedelta(seconds=25)  # 20 s, capped at 15
    assert tasks.run(None, now=now + timedelta(seconds=25)) == {"failed": 1}
    assert Delivery.objects.get().attempts == 3


def test_a_permanent_error_fails_at_once_and_skips_are_recorded(alice: User, bob: User) -> None:
    RecorderProvider.failing = {"Bad": DeliveryError("HTTP 400", retry=False)}
    notifier.send("Bad", alice, channels=("test-recorder",))
    notifier.send("skip me", bob, channels=("test-recorder",))
    tasks.run(None)
    assert statuses() == [(str(alice.pk), "failed"), (str(bob.pk), "skipped")]
    assert Delivery.objects.get(status="skipped").last_error == "nothing to send to"


def test_a_provider_that_raises_never_breaks_send(alice: User, django_capture_on_commit_callbacks) -> None:
    class Broken(Provider):
        name = "test-broken"

        def send_bulk(self, payloads: Sequence[Any]) -> list[Any]:
            raise RuntimeError("the service is on fire")

        def build_payload(self, notification: Notification, context: Any) -> Any:
            return {}

    class BrokenChannel(Channel):
        name = "test-broken"
        providers = ["test-broken"]

    with django_capture_on_commit_callbacks(execute=True):
        sent = notifier.send("Still stored", alice, channels=("test-broken",))
    assert len(sent) == 1 and Notification.objects.count() == 1
    row = Delivery.objects.get()
    assert row.status == "pending" and "on fire" in row.last_error


# -- Around the deliveries ----------------------------------------------------------------------


def test_inbox_deliver_sends_what_is_due(alice: User, bob: User) -> None:
    notifier.send("Left behind", [alice, bob], channels=("test-shout",))  # e.g. the broker was down
    out = StringIO()
    call_command("inbox_deliver", stdout=out)
    assert out.getvalue().strip() == "Deliveries: 2 sent."
    call_command("inbox_deliver", stdout=out)
    assert "nothing due" in out.getvalue()


def test_the_admin_retries_failed_deliveries(alice: User, django_capture_on_commit_callbacks) -> None:
    RecorderProvider.failing = {"Retry me": DeliveryError("HTTP 400", retry=False)}
    notifier.send("Retry me", alice, channels=("test-recorder",))
    tasks.run(None)
    assert statuses() == [(str(alice.pk), "failed")]
    RecorderProvider.failing = {}
    User.objects.create_superuser("root", password="pw")
    client = Client()
    client.login(username="root", password="pw")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/inbox/delivery/", {
            "action": "retry", "_selected_action": list(Delivery.objects.values_list("pk", flat=True)),
        })
    assert response.status_code == 302
    assert Delivery.objects.get().status == "sent" and Delivery.objects.get().attempts == 1


def test_erasing_a_recipient_takes_their_deliveries(alice: User, bob: User) -> None:
    notifier.send("Stored", [alice, bob], channels=("test-recorder",))
    notifier.send("Silent", [alice, bob], channels=("test-recorder",), silent=True)
    erasure.erase(alice)
    assert sorted(Delivery.objects.values_list("recipient_id", flat=True)) == [str(bob.pk)] * 2


def test_sending_with_channels_costs_the_same_queries_for_1_or_50_recipients(
    warm_content_types: None,
) -> None:
    users = [User.objects.create(username=f"q{i}") for i in range(50)]
    notifier.send("warm", users[:1], channels=("test-recorder",))
    with CaptureQueriesContext(connection) as one:
        notifier.send("one", users[:1], channels=("test-recorder",))
    with CaptureQueriesContext(connection) as fifty:
        notifier.send("fifty", users, channels=("test-recorder",))
    assert len(fifty) == len(one)
    assert Delivery.objects.filter(notification__message="fifty").count() == 50


# -- System checks -------------------------------------------------------------------------------


def ids(settings: Any, **inbox: Any) -> list[str]:
    settings.INBOX = inbox
    return [problem.id for problem in checks.check_channels()]


def test_checks_name_what_a_channel_is_missing(settings: Any) -> None:
    assert ids(settings, **SITE) == []
    assert ids(settings, **SITE, PROVIDERS={"webhook": {"URL": "https://hooks.example.com/"}}) == ["inbox.E040"]
    assert ids(settings, **SITE, PROVIDERS={"webhook": {"URL": "file:///etc/passwd", "SECRET": "s"}}) == ["inbox.E040"]
    assert ids(settings, **SITE, PROVIDERS={"nothing-by-this-name": {}}) == ["inbox.E040"]
    assert ids(settings, **SITE, PROVIDERS=["email"]) == ["inbox.E040"]
    assert ids(settings, **SITE, CATEGORIES=[{"slug": "a", "default_channels": ["slack"]}]) == ["inbox.E041"]
    assert ids(settings, PROVIDERS={"email": {}}) == ["inbox.E042"]  # no SITE_URL, no Sites framework
    assert ids(settings, **SITE, TASK_BACKEND="nope") == ["inbox.E043"]


def test_a_task_that_starts_before_its_rows_are_due_comes_back_when_they_are(alice: User, settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    notifier.send("Later", alice, channels=("test-shout",), countdown=30)
    row = Delivery.objects.get()
    backend = tasks.backend()
    backend.clear()
    assert tasks.run(row.batch, now=row.due_at - timedelta(seconds=1)) == {}  # started early: nothing due
    [requeued] = backend.results
    assert requeued.args == [str(row.batch)] and requeued.task.run_after >= row.due_at
    assert RecorderProvider.calls == [] and Delivery.objects.get().status == "pending"


def test_deliveries_are_written_in_several_inserts_when_there_are_many(settings: Any, monkeypatch: Any) -> None:
    from inbox.channels import deliveries

    monkeypatch.setattr(deliveries, "_ROWS_PER_INSERT", 3)
    settings.INBOX = {**SITE, "DELIVERY_BATCH_SIZE": 2}
    users = [User.objects.create(username=f"m{i}") for i in range(5)]
    with CaptureQueriesContext(connection) as queries:
        notifier.send("Many", users, channels=("test-recorder", "test-shout"))
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT") and "inbox_delivery" in q["sql"]]
    assert len(inserts) == 3  # 10 rows, flushed once 3 or more are waiting (4 + 4 + 2)
    assert sorted(Delivery.objects.values_list("channel", "recipient_id")) == sorted(
        (channel, str(user.pk)) for channel in ("test-recorder", "test-shout") for user in users
    )
    assert Delivery.objects.values("batch").distinct().count() == 6
