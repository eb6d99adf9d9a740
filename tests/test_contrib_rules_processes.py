"""inbox.contrib.rules across processes: an edit in one process reaches another without a restart.

Two processes share a database and a real Redis cache (``django.core.cache.backends.redis.RedisCache``):
process B is already running and has read the rules; process A edits a rule (changes the template,
disables the trigger) and exits; B's next save honours the edit, and B reads the rules again only
when an edit moved the version. On SQLite the processes share a migrated file database; on
PostgreSQL and MariaDB they use this test's own database.

This module is also the processes' script: ``python -m tests.test_contrib_rules_processes worker``
(B, commands on stdin) and ``... edit`` (A, one edit). It imports no model at import time for that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: B re-reads the version at most this often (seconds); the test waits a little longer.
CACHE_SECONDS = 0.3


def database_url(tmp_path: Path) -> str:
    """A database both processes can open: a migrated SQLite file, or this test's server database."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        result = subprocess.run([sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return url
    scheme = "postgres" if connection.vendor == "postgresql" else "mysql"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"{scheme}://{settings['USER']}{password}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


class Process:
    """A running B: one JSON command per line in, one JSON answer per line out."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.test_contrib_rules_processes", "worker"], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def ask(self, **command: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"process B stopped: {stderr}")
        return json.loads(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_an_edit_in_one_process_reaches_another_without_a_restart(tmp_path: Path, redis_server: Any) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(tmp_path),
        "PYTHONPATH": str(ROOT),
        "RULES_TEST_REDIS": redis_server.url,
        "RULES_TEST_PREFIX": f"rules-{uuid.uuid4().hex[:8]}",
    }

    def edit(**change: Any) -> None:  # process A: one edit, then it exits
        result = subprocess.run([sys.executable, "-m", "tests.test_contrib_rules_processes", "edit", json.dumps(change)],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr

    worker = Process(env)
    try:
        assert worker.ask(do="setup") == "ready"
        first = worker.ask(do="save", title="v1")
        assert first["messages"] == ["first: v1"]
        loads = first["loads"]
        again = worker.ask(do="save", title="v2")  # no edit: B keeps its rules, without reading them
        assert again["messages"] == ["first: v1", "first: v2"] and again["loads"] == loads

        edit(template="second: {{ instance }}")
        time.sleep(CACHE_SECONDS + 0.4)
        changed = worker.ask(do="save", title="v3")
        assert changed["messages"][-1] == "second: v3"
        assert changed["loads"] == loads + 1

        edit(enabled=False)  # the trigger
        time.sleep(CACHE_SECONDS + 0.4)
        disabled = worker.ask(do="save", title="v4")
        assert disabled["messages"] == changed["messages"]  # nothing new
    finally:
        worker.stop()


# -- the processes' side ---------------------------------------------------------------------------


def _setup_django() -> None:
    import django
    from django.conf import settings

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": os.environ["RULES_TEST_REDIS"],
                                   "KEY_PREFIX": os.environ["RULES_TEST_PREFIX"]}}
    settings.INBOX = {"RULES_CACHE_SECONDS": CACHE_SECONDS}
    django.setup()


def _worker() -> None:
    _setup_django()
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType

    from inbox.contrib.rules import index
    from inbox.contrib.rules.models import Subscription, Trigger
    from inbox.models import Notification
    from inbox.shortcodes import expand_text
    from tests.testapp.models import Document

    document: Document | None = None
    bob: User | None = None
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "setup":
            bob = User.objects.create_user("bob", password="pw")
            document = Document.objects.create(title="v0")
            trigger = Trigger.objects.create(name="renamed", signal="post_save", created="updated",
                                             sender=ContentType.objects.get_for_model(Document))
            subscription = Subscription.objects.create(trigger=trigger, template="first: {{ instance }}")
            subscription.users.add(bob)
            answer: Any = "ready"
        else:
            assert document is not None and bob is not None
            document.title = command["title"]
            document.save()
            answer = {
                "messages": [expand_text(n.message) for n in Notification.objects.recipients([bob]).order_by("pk")],
                "loads": index.loads(),
            }
        print(json.dumps(answer), flush=True)


def _edit(change: dict[str, Any]) -> None:
    _setup_django()
    from inbox.contrib.rules.models import Subscription, Trigger

    if "template" in change:
        subscription = Subscription.objects.get()
        subscription.template = change["template"]
        subscription.save()
    if "enabled" in change:
        trigger = Trigger.objects.get()
        trigger.enabled = change["enabled"]
        trigger.save()


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        _worker()
    else:
        _edit(json.loads(sys.argv[2]))
