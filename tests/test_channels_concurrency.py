"""The same delivery task run at once by several workers on a real PostgreSQL sends each delivery once."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from django.contrib.auth.models import User

from inbox.channels import Channel, Provider, tasks
from inbox.models import Delivery, Notification
from inbox.services import notifier
from tests.test_concurrency import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

_sent: list[str] = []
_lock = threading.Lock()


class SlowProvider(Provider):
    """Takes its time, so overlapping workers would both send if claims did not hold."""

    name = "test-slow"

    def build_payload(self, notification: Notification, context: Any) -> str:
        return str(notification.recipient)

    def send_bulk(self, payloads: Sequence[Any]) -> list[Any]:
        time.sleep(0.2)
        with _lock:
            _sent.extend(payloads)
        return [None] * len(payloads)


class SlowChannel(Channel):
    name = "test-slow"
    providers = ["test-slow"]


def test_four_workers_on_one_batch_send_each_delivery_once(is_postgres: bool, settings: Any) -> None:
    assert is_postgres
    # Enqueue without running, so the four "workers" below are the only ones to deliver.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.INBOX = {"SITE_URL": "https://example.com"}
    _sent.clear()
    users = [User.objects.create(username=f"w{i}") for i in range(40)]
    notifier.send("Once each", users, channels=("test-slow",))
    (batch,) = set(Delivery.objects.values_list("batch", flat=True))  # one batch of 40
    results = run_together(*[lambda: tasks.run(batch)] * 4)
    assert sorted(_sent) == sorted(user.username for user in users)  # nobody twice, nobody missed
    assert sorted(r.get("sent", 0) for r in results if isinstance(r, dict)) == [0, 0, 0, 40]
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}
