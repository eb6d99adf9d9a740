"""Settings for benchmarks: a file SQLite database, or PostgreSQL from DATABASE_URL."""

import os
import tempfile

import dj_database_url

SECRET_KEY = "bench-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "inbox"]
_default = f"sqlite:///{os.path.join(tempfile.gettempdir(), 'inbox-bench.sqlite3')}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL", _default))}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE"}
