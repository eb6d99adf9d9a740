"""The in-process broker says once why a publish from a process that serves no stream reaches nobody.

Before, ``notifier.send`` from ``manage.py shell`` with the default broker stored the notification
and silently delivered nothing live; the README did not say why, and neither did the process.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inbox.events.base import Event
from inbox.events.inprocess import UNSERVED_HINT, InProcessBroker
from inbox.services import notifier

ROOT = Path(__file__).resolve().parent.parent


def hints(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "inbox.events" and r.getMessage() == UNSERVED_HINT]


def test_a_process_that_never_subscribed_is_told_once(caplog):
    broker = InProcessBroker()
    with caplog.at_level(logging.WARNING, logger="inbox.events"):
        broker.publish([Event(recipient="auth.user:1")])
        broker.publish([Event(recipient="auth.user:2"), Event(recipient="auth.user:3")])
    [record] = hints(caplog)
    assert record.levelno == logging.WARNING
    assert "inbox.events.redis.RedisBroker" in UNSERVED_HINT and "docs/live.md" in UNSERVED_HINT


def test_a_process_serving_streams_is_not_told(caplog):
    broker = InProcessBroker()
    with caplog.at_level(logging.WARNING, logger="inbox.events"):
        with broker.subscribe(["auth.user:1"]) as subscription:
            broker.publish([Event(recipient="auth.user:2")])  # nobody listens to 2 here, which is normal
            broker.publish([Event(recipient="auth.user:1")])
            assert subscription.drain() == [Event(recipient="auth.user:1")]
        # A server whose streams have all closed for now is still a server.
        broker.publish([Event(recipient="auth.user:1")])
    assert hints(caplog) == []


def test_publishing_nothing_says_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger="inbox.events"):
        InProcessBroker().publish(iter(()))
    assert hints(caplog) == []


@pytest.mark.django_db
def test_send_from_a_process_without_streams_is_explained(alice, broker, caplog, django_capture_on_commit_callbacks):
    with caplog.at_level(logging.WARNING, logger="inbox.events"):
        for text in ("one", "two"):
            with django_capture_on_commit_callbacks(execute=True):
                notifier.send(text, alice)
    assert len(hints(caplog)) == 1


def test_manage_py_shell_prints_the_hint_once_on_stderr(tmp_path):
    """The real case: a site with no LOGGING config, sending twice from ``manage.py shell -c``."""
    code = (
        "from django.core.management import call_command; call_command('migrate', verbosity=0); "
        "from django.contrib.auth.models import User; from inbox.services import notifier; "
        "bob = User.objects.create_user('bob'); notifier.send('one', bob); notifier.send('two', bob)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    result = subprocess.run([sys.executable, "-m", "django", "shell", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("The in-process broker published inbox events") == 1, result.stderr
    assert "inbox.events.redis.RedisBroker" in result.stderr
