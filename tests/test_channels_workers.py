"""Deliveries go out from real task-worker processes, end to end.

Each test runs a little site in separate processes (settings: tests/worker_settings.py) sharing
one SQLite file: ``manage.py shell`` sends a notification with ``channels=["email"]`` (which
writes the Delivery rows and enqueues the ``deliver`` task after commit), then a real worker
process of the configured Tasks API backend (``db_worker`` of django-tasks-db, or django-rq's
``rqworker`` for django-tasks-rq on a real redis-server) runs the task, which sends the e-mail
over SMTP to an aiosmtpd server this test runs. The test reads the outcome from the SQLite file,
the task backend and what the SMTP server received.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent
WORKER_TIMEOUT = 60
UTC = timezone.utc

#: Run by ``manage.py shell -c`` in the sending process. Creates alice (who has an address) and
#: bob (who has none), sends to both inside a transaction, and reports what the task backend held
#: inside the transaction and after the commit: the task must be enqueued only once it commits.
SEND = """
import json, os, time
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from inbox.services import notifier

def queued():
    if settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db."):
        from django_tasks_db.models import DBTaskResult
        return DBTaskResult.objects.count()
    import django_rq
    from rq.registry import ScheduledJobRegistry
    queue = django_rq.get_queue("default")
    return queue.count + ScheduledJobRegistry(queue=queue).count

alice = User.objects.create_user("alice", email="alice@example.com")
bob = User.objects.create_user("bob", email="")
countdown = json.loads(os.environ["INBOX_SEND_COUNTDOWN"])
if os.environ.get("INBOX_SEND_AT_WHOLE_SECOND"):  # send just after a second begins on the wall clock
    while time.time() % 1 > 0.01:
        time.sleep(0.001)
with transaction.atomic():
    sent = notifier.send("Report {n} is ready", [alice, bob], extra={"n": 7}, url="/reports/7/",
                         channels=["email"], countdown=countdown)
    inside = queued()
print(json.dumps({"inside": inside, "after": queued(), "notifications": [n.pk for n in sent]}))
"""


class SMTPSink:
    """A real SMTP server on a loopback port that keeps every message it is given."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def received(self) -> list[tuple[str, list[str], EmailMessage]]:
        with self._lock:
            return list(self.messages)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """The test's SQLite file lives here; removed afterwards, whatever happened."""
    path = tempfile.mkdtemp(prefix="inbox-workers-")
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def smtp() -> Iterator[SMTPSink]:
    sink = SMTPSink()
    sink.controller.start()
    try:
        yield sink
    finally:
        sink.controller.stop()


def _when(value: str | None) -> datetime | None:
    """A DateTimeField as SQLite stores it with USE_TZ (naive UTC text)."""
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


class Site:
    """The processes of one test: the same settings and SQLite file for all of them."""

    def __init__(self, root: Path, backend: str, smtp_port: int, redis_url: str = "") -> None:
        self.db = root / "site.sqlite3"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "INBOX_WORKER_DB": str(self.db),
            "INBOX_WORKER_BACKEND": backend,
            "INBOX_WORKER_SMTP_PORT": str(smtp_port),
            "INBOX_WORKER_REDIS_URL": redis_url,
        }
        self.env.pop("DATABASE_URL", None)
        self.redis: Any = None  # the rq site's Redis connection

    def manage(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "django", *args], cwd=ROOT, env={**self.env, **(env or {})},
                                capture_output=True, text=True, timeout=WORKER_TIMEOUT)
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def send(self, countdown: float | None = None, *, at_whole_second: bool = False) -> dict[str, Any]:
        env = {"INBOX_SEND_COUNTDOWN": json.dumps(countdown), "INBOX_SEND_AT_WHOLE_SECOND": "1" if at_whole_second else ""}
        result = self.manage("shell", "-c", SEND, env=env)
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["inside"] == 0, f"the task was enqueued before the transaction committed: {report}"
        assert report["after"] == 1, f"one batch, so one task once the transaction committed: {report}"
        return report

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        with sqlite3.connect(self.db, timeout=30) as connection:
            connection.row_factory = sqlite3.Row
            return connection.execute(sql, params).fetchall()

    def deliveries(self) -> dict[str, sqlite3.Row]:
        """The Delivery rows, by recipient username."""
        rows = self.query(
            "SELECT u.username, d.* FROM inbox_delivery d JOIN auth_user u ON CAST(d.recipient_id AS INTEGER) = u.id"
        )
        return {row["username"]: row for row in rows}


def assert_delivered(site: Site, smtp: SMTPSink) -> sqlite3.Row:
    """alice's delivery is sent and its e-mail arrived; bob (no address) is skipped, sending nothing."""
    deliveries = site.deliveries()
    assert set(deliveries) == {"alice", "bob"}
    alice, bob = deliveries["alice"], deliveries["bob"]
    assert (alice["channel"], alice["provider"], alice["status"]) == ("email", "email", "sent"), dict(alice)
    assert alice["attempts"] == 1 and alice["last_error"] == "" and alice["sent_at"] is not None, dict(alice)
    assert alice["claim"] is None and alice["claimed_until"] is None, dict(alice)
    assert (bob["status"], bob["last_error"]) == ("skipped", "the recipient has no e-mail address"), dict(bob)
    [(mail_from, rcpt_tos, message)] = smtp.received()
    assert mail_from == "inbox@example.com" and rcpt_tos == ["alice@example.com"]
    assert message["Subject"] == "Report 7 is ready"
    assert message["From"] == "Inbox <inbox@example.com>" and message["To"] == "alice@example.com"
    assert message["Message-ID"] == alice["provider_message_id"] != ""
    # A long header is folded; unfolding leaves the space before the value.
    assert message["List-Unsubscribe"].strip().startswith("<https://inbox.example/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Report 7 is ready" in text and "https://inbox.example/reports/7/" in text
    assert "https://inbox.example/reports/7/" in html
    return alice


def whole_second_after(when: datetime) -> datetime:
    return when if not when.microsecond else when.replace(microsecond=0) + timedelta(seconds=1)


def wait_until_due(due_at: datetime) -> None:
    """Sleep until the wall clock has passed ``due_at`` (stored by another process on this machine)."""
    deadline = time.monotonic() + 30
    while datetime.now(UTC) <= due_at + timedelta(milliseconds=50):
        assert time.monotonic() < deadline, f"{due_at} is not due after 30 s"
        time.sleep(0.05)


# --- django-tasks-db: the database is the queue; `manage.py db_worker` runs the tasks -------------------------


@pytest.fixture
def db_site(workdir: Path, smtp: SMTPSink) -> Site:
    site = Site(workdir, "db", smtp.port)
    site.manage("migrate", "--verbosity", "0")
    return site


def db_worker(site: Site) -> str:
    """One real ``db_worker`` run that takes every task due now, then exits."""
    return site.manage("db_worker", "--batch", "--no-startup-delay", "--interval", "0", "--no-reload").stdout


def task_rows(site: Site) -> list[sqlite3.Row]:
    return site.query("SELECT * FROM django_tasks_database_dbtaskresult")


def test_db_worker_delivers_an_email_over_smtp(db_site, smtp):
    db_site.send()
    [task] = task_rows(db_site)
    assert (task["task_path"], task["status"], task["backend_name"]) == ("inbox.channels.tasks.deliver", "READY", "default")
    [batch] = json.loads(task["args_kwargs"])["args"]
    assert {row["status"] for row in db_site.deliveries().values()} == {"pending"}
    assert smtp.received() == [], "nothing goes out before a worker runs the task"

    output = db_worker(db_site)

    assert "state=SUCCESSFUL" in output, output
    [task] = task_rows(db_site)
    assert task["status"] == "SUCCESSFUL", dict(task)
    assert json.loads(task["return_value"]) == {"sent": 1, "skipped": 1}
    alice = assert_delivered(db_site, smtp)
    assert alice["batch"] == batch.replace("-", "")

    # The same task run again (a redelivered job) claims nothing: the e-mail is not sent twice.
    db_site.manage("shell", "-c", f"from inbox.channels.tasks import deliver; assert deliver.call({batch!r}) == {{}}")
    db_worker(db_site)
    assert len(smtp.received()) == 1
    assert db_site.deliveries()["alice"]["attempts"] == 1


def test_db_worker_holds_a_countdown_until_it_is_due(db_site, smtp):
    db_site.send(countdown=2)
    deliveries = db_site.deliveries()
    due_at = _when(deliveries["alice"]["due_at"])
    assert due_at - _when(deliveries["alice"]["created_at"]) == timedelta(seconds=2)
    [task] = task_rows(db_site)
    run_after = _when(task["run_after"])
    # The deliveries' due time, rounded up to a whole second (RQ keeps whole seconds: never early).
    assert run_after == whole_second_after(due_at), "the task is enqueued with run_after = due_at, rounded up"

    db_worker(db_site)  # a worker run while the delivery is not due yet
    early = datetime.now(UTC) < due_at
    [task] = task_rows(db_site)
    if early:  # the run surely ended before the due time (the usual case: a run takes well under 2 s)
        assert task["status"] == "READY", dict(task)
        assert {row["status"] for row in db_site.deliveries().values()} == {"pending"}
        assert smtp.received() == []
    if task["started_at"] is not None:  # whatever the machine's speed: never started before it was due
        assert _when(task["started_at"]) >= due_at, dict(task)

    wait_until_due(run_after)
    db_worker(db_site)

    [task] = task_rows(db_site)
    assert task["status"] == "SUCCESSFUL" and _when(task["started_at"]) >= due_at, dict(task)
    alice = assert_delivered(db_site, smtp)
    assert _when(alice["sent_at"]) >= due_at


# --- django-tasks-rq: RQ on a real redis-server; django-rq's `manage.py rqworker` runs the tasks --------------------


@pytest.fixture
def rq_site(workdir: Path, smtp: SMTPSink, redis_server) -> Iterator[Site]:
    """A site on its own Redis database (emptied first), so leftovers of another test are never seen."""
    import redis

    url = redis_server.url.rsplit("/", 1)[0] + "/3"
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    site = Site(workdir, "rq", smtp.port, url)
    site.manage("migrate", "--verbosity", "0")
    site.redis = connection
    try:
        yield site
    finally:
        connection.flushdb()
        connection.close()


def rq_worker(site: Site) -> str:
    """One real RQ worker run (forking a work horse per job, as in production) that empties the queue and exits;
    its scheduler first moves the scheduled jobs that are due onto the queue."""
    result = site.manage("rqworker", "--burst", "--with-scheduler", "--job-class", "django_tasks_rq.Job", "default")
    return result.stdout + result.stderr


def rq_jobs(site: Site) -> dict[str, list[str]]:
    from rq import Queue
    from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry

    queue = Queue("default", connection=site.redis)
    return {
        "queued": queue.get_job_ids(),
        "scheduled": ScheduledJobRegistry(queue=queue).get_job_ids(),
        "finished": FinishedJobRegistry(queue=queue).get_job_ids(),
        "failed": FailedJobRegistry(queue=queue).get_job_ids(),
    }


def rq_result(site: Site, job_id: str) -> Any:
    from rq.job import Job

    return Job.fetch(job_id, connection=site.redis).return_value()


def test_rq_worker_delivers_an_email_over_smtp(rq_site, smtp):
    rq_site.send()
    jobs = rq_jobs(rq_site)
    [job_id] = jobs["queued"]
    assert jobs["scheduled"] == jobs["finished"] == jobs["failed"] == []
    assert {row["status"] for row in rq_site.deliveries().values()} == {"pending"}
    assert smtp.received() == []

    output = rq_worker(rq_site)

    jobs = rq_jobs(rq_site)
    assert (jobs["queued"], jobs["finished"], jobs["failed"]) == ([], [job_id], []), output
    assert rq_result(rq_site, job_id) == {"sent": 1, "skipped": 1}
    assert_delivered(rq_site, smtp)


def test_rq_worker_holds_a_countdown_until_it_is_due(rq_site, smtp):
    # RQ schedules in whole seconds: a job may start as soon as its due second begins. Sent at the start
    # of a second, the deliveries are due at the start of one too, so no run can fall between the two
    # (a run there loses the delivery: see test_rq_a_job_started_early_in_its_due_second_delivers_anyway).
    rq_site.send(countdown=2, at_whole_second=True)
    due_at = _when(rq_site.deliveries()["alice"]["due_at"])
    jobs = rq_jobs(rq_site)
    [job_id] = jobs["scheduled"]
    assert jobs["queued"] == []

    rq_worker(rq_site)  # a worker run while the delivery is not due yet
    # RQ keeps the due time in whole seconds, and may start the job as soon as that second begins.
    early = datetime.now(UTC) < due_at.replace(microsecond=0)
    jobs = rq_jobs(rq_site)
    if early:
        assert (jobs["scheduled"], jobs["queued"], jobs["finished"]) == ([job_id], [], []), jobs
        assert {row["status"] for row in rq_site.deliveries().values()} == {"pending"}
        assert smtp.received() == []

    wait_until_due(whole_second_after(due_at))
    output = rq_worker(rq_site)

    jobs = rq_jobs(rq_site)
    assert (jobs["scheduled"], jobs["queued"], jobs["finished"], jobs["failed"]) == ([], [], [job_id], []), output
    assert rq_result(rq_site, job_id) == {"sent": 1, "skipped": 1}
    alice = assert_delivered(rq_site, smtp)
    assert _when(alice["sent_at"]) >= due_at


def test_rq_a_job_started_early_in_its_due_second_delivers_anyway(rq_site, smtp):
    from rq.job import Job
    from rq.scheduler import RQScheduler
    from rq.worker import Worker

    from tests.services import stop_process

    rq_site.send(countdown=2.9, at_whole_second=True)  # due at about .91 of its second
    due_at = _when(rq_site.deliveries()["alice"]["due_at"])
    [job_id] = rq_jobs(rq_site)["scheduled"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "django", "rqworker", "--job-class", "django_tasks_rq.Job", "default"],
        cwd=ROOT, env=rq_site.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    scheduler = RQScheduler(["default"], connection=rq_site.redis)

    def schedule() -> None:
        """What the scheduler of `rqworker --with-scheduler` does each second."""
        scheduler.acquire_locks()
        scheduler.enqueue_scheduled_jobs()
        scheduler.release_locks()

    try:
        deadline = time.monotonic() + WORKER_TIMEOUT
        while not Worker.all(connection=rq_site.redis):
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"rqworker did not start (exit status {worker.poll()})")
            time.sleep(0.05)
        second = due_at.replace(microsecond=0)
        if datetime.now(UTC) >= second:
            pytest.fail("the worker took until the due second to start: cannot set the scene")
        while datetime.now(UTC) < second:
            time.sleep(0.005)
        schedule()  # the due second has begun: RQ takes the job (unless it is scheduled for a later second)
        if Job.fetch(job_id, connection=rq_site.redis).get_status() != "scheduled":
            while Job.fetch(job_id, connection=rq_site.redis).get_status() != "finished":
                if time.monotonic() > deadline:
                    pytest.fail("the worker did not run the job")
                time.sleep(0.01)
            started = Job.fetch(job_id, connection=rq_site.redis).started_at.replace(tzinfo=UTC)
            if started >= due_at:
                pytest.fail("the job did not start before the due time: cannot show the early start")
        # The job ran before the deliveries were due. A scheduler keeps running (as the one of
        # `rqworker --with-scheduler`) and so does the worker: the e-mail must still go out, once.
        wait_until_due(due_at)
        give_up = time.monotonic() + 3
        while rq_site.deliveries()["alice"]["status"] == "pending" and time.monotonic() < give_up:
            schedule()
            time.sleep(0.1)
    finally:
        stop_process(worker)
    assert_delivered(rq_site, smtp)
