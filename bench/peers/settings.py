"""A minimal project around one system (INBOX_BENCH_SYSTEM), on DATABASE_URL."""

import os

import dj_database_url

from bench.peers.systems import SYSTEMS

SYSTEM = SYSTEMS[os.environ["INBOX_BENCH_SYSTEM"]]
SECRET_KEY = "peers-bench"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "bench.peers.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
STATEMENT_TIMEOUT_S = 60
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # The same bound for every system, so one pathological statement cannot stall the run.
    DATABASES["default"]["OPTIONS"] = {"options": f"-c statement_timeout={STATEMENT_TIMEOUT_S * 1000}"}
INSTALLED_APPS = [
    # The admin, for every system: a real site's heap, which the cyclic GC walks during a big send.
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *SYSTEM.apps,
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/login/"
globals().update(SYSTEM.settings)
