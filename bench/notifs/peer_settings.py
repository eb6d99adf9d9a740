"""django-notifs for bench/channels.py, in its own virtualenv: auth, contenttypes and ``notifications``
on a SQLite file, its synchronous delivery backend, and SMTP to the bench's sink.

    BENCH_DB           path of the SQLite file
    BENCH_SMTP_PORT    the port of the bench's SMTP sink on 127.0.0.1
"""

import os

SECRET_KEY = "bench-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "notifications"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_DB", "/tmp/inbox-bench-notifs.sqlite3"),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
    }
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The package's default, spelled out: delivery runs inside notify().
NOTIFICATIONS_DELIVERY_BACKEND = "notifications.backends.Synchronous"

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("BENCH_SMTP_PORT", "25"))
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = "inbox@example.com"
