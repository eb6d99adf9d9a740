"""Settings for the test suite: SQLite by default, PostgreSQL or MariaDB/MySQL when DATABASE_URL says so.

Two aliases: "default", and "other" on the same server (another in-memory database on SQLite, another
test database on a server) so router tests can send the inbox models elsewhere with
``override_settings(DATABASE_ROUTERS=[...])`` and ``@pytest.mark.django_db(databases=["default", "other"])``.
pytest-django creates "other" only when a test asks for it.
"""

import os
from typing import Any

import dj_database_url

SECRET_KEY = "tests-only-and-long-enough-for-an-hmac-sha256-key"  # PyJWT warns under 32 bytes
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def database(url: str, suffix: str = "") -> dict[str, Any]:
    """One DATABASES entry for a URL; ``suffix`` names a distinct database (and so test database) on that server."""
    config: dict[str, Any] = dict(dj_database_url.parse(url))
    engine = config["ENGINE"]
    if engine.endswith("sqlite3"):
        # Take the write lock when a transaction starts, as the docs recommend for the kit.
        config["OPTIONS"] = {"transaction_mode": "IMMEDIATE"}
        # ":memory:" test databases are already named per alias by Django; a file gets its own name.
        if suffix and config["NAME"] != ":memory:":
            config["NAME"] = f"{config['NAME']}{suffix}"
        return config
    if suffix:
        config["NAME"] = f"{config['NAME']}{suffix}"
    if engine.endswith("mysql"):
        # Django's recommended MySQL/MariaDB settings: full Unicode, and READ COMMITTED rather than the
        # REPEATABLE READ default, so a transaction sees rows other transactions committed.
        config["OPTIONS"] = {"charset": "utf8mb4", "isolation_level": "read committed"}
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return config


DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite:///:memory:")
DATABASES = {
    "default": database(DATABASE_URL),
    "other": database(DATABASE_URL, suffix="_other"),
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "inbox",
    "inbox.contrib.messages",
    "inbox.contrib.rules",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
STATIC_URL = "/static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
INBOX: dict = {}

# The JSON API (inbox.contrib.drf) under every authentication the docs promise: sessions (with
# CSRF), DRF's tokens and simplejwt's JWTs; each test picks one.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
