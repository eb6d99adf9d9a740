"""The kit for bench/channels.py: bench.settings plus django-tasks-db and SMTP to the bench's sink.

    DATABASE_URL       a SQLite file shared by the process that sends and the db_worker that delivers
    BENCH_SMTP_PORT    the port of the bench's SMTP sink on 127.0.0.1
"""

import os

from bench.settings import *  # noqa: F401,F403
from bench.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks", "django_tasks_db"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Two processes write the file (the sender, then the worker): wait for the lock rather than fail.
DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("BENCH_SMTP_PORT", "25"))
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = "inbox@example.com"

INBOX = {"SITE_URL": "https://inbox.example", "PROVIDERS": {"email": {}}}
