"""Settings for the real task-worker processes of tests/test_channels_workers.py.

The test suite's settings, plus: one SQLite *file* shared by every process of a test (the one that
sends, the worker that delivers, and the test reading the result), the Tasks API backend the test
names, and e-mail over SMTP to the test's own server. Everything a test varies comes from the
environment:

    INBOX_WORKER_DB          path of the SQLite database file
    INBOX_WORKER_BACKEND     "db" (django-tasks-db) or "rq" (django-tasks-rq on Redis)
    INBOX_WORKER_REDIS_URL   the Redis of the "rq" backend
    INBOX_WORKER_SMTP_PORT   the port of the SMTP server on 127.0.0.1
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["INBOX_WORKER_DB"],
        # Several processes write the file: wait for the lock rather than fail at once.
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
    }
}

BACKEND = os.environ.get("INBOX_WORKER_BACKEND", "db")
if BACKEND == "db":
    INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks", "django_tasks_db"]
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif BACKEND == "rq":
    INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks", "django_rq", "django_tasks_rq"]
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": os.environ["INBOX_WORKER_REDIS_URL"], "DEFAULT_TIMEOUT": 60}}
else:
    raise ValueError(f"INBOX_WORKER_BACKEND must be 'db' or 'rq', not {BACKEND!r}")

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("INBOX_WORKER_SMTP_PORT", "25"))
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = "inbox@example.com"

INBOX = {
    "SITE_URL": "https://inbox.example",
    "PROVIDERS": {"email": {"FROM": "Inbox <inbox@example.com>"}},
    "TASK_BACKEND": "default",
}
