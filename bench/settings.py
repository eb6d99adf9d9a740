"""Settings for benchmarks: the test suite's project, on a file SQLite database or PostgreSQL."""

import os
import tempfile

import dj_database_url

from tests.settings import *  # noqa: F401,F403

DEBUG = False
_default = f"sqlite:///{os.path.join(tempfile.gettempdir(), 'inbox-bench.sqlite3')}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL", _default))}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE"}
