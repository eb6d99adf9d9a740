"""Settings for the demo: SQLite and the in-process broker unless the environment says otherwise.

DATABASE_URL=postgres://user@host:5432/name selects PostgreSQL;
INBOX_REDIS_URL=redis://127.0.0.1:6379/0 selects the Redis broker.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

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
    "django_tasks_db",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Notification rules (docs/rules.md): the signed-in user who saved an object is the rule's actor.
    "inbox.contrib.rules.middleware.CurrentUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "example_site.urls"
WSGI_APPLICATION = "example_site.wsgi.application"
ASGI_APPLICATION = "example_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {
    "default": dj_database_url.parse(os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")),
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # BEGIN IMMEDIATE: writers queue for the lock at the start instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
STATIC_URL = "static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

INBOX = {
    # The inbox pages extend the site's own layout.
    "BASE_TEMPLATE": "base.html",
    # What each category is called and who may turn it off (the preferences page reads them too).
    "CATEGORIES": [
        {"slug": "comments", "label": "Comments", "description": "Replies and comments on your projects."},
        {"slug": "mentions", "label": "Mentions", "description": "Someone @-mentioned you.",
         "default_channels": ("email",)},
        {"slug": "deploys", "label": "Deploys", "description": "Builds and deploys of projects you follow."},
        {"slug": "billing", "label": "Billing", "description": "Invoices and payment problems."},
        {"slug": "security", "label": "Security", "description": "Sign-ins and changes to your account.",
         "locked": True, "default_channels": ("email",)},
        {"slug": "messages", "label": "Messages", "description": "Notes the site leaves for you."},
        "test",
        # What the demo's notification rule sends (seed_demo; docs/rules.md).
        {"slug": "projects", "label": "Projects", "icon": "tag", "description": "Status changes of your projects."},
    ],
    # Channels: e-mails are printed by the worker `make demo` starts (the console e-mail backend).
    "SITE_URL": os.environ.get("INBOX_SITE_URL", "http://127.0.0.1:8000"),
    "PROVIDERS": {"email": {}, "console": {}},
    "RULES_TASK_BACKEND": "rules",
}
# Deliveries are tasks in the database, run by `manage.py db_worker` (make demo starts one).
TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend"},
    # Notification rules render in the server right after the save's commit, so the in-process
    # broker pops their toasts up live (INBOX["RULES_TASK_BACKEND"] above).
    "rules": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
}
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "Acme <notifications@example.com>"
if os.environ.get("INBOX_REDIS_URL"):
    # Several server processes (or a worker, or a management command) share live events.
    INBOX["BROKER"] = "inbox.events.redis.RedisBroker"
    INBOX["BROKER_OPTIONS"] = {"url": os.environ["INBOX_REDIS_URL"], "prefix": "demo:inbox:"}
    # The notification rules' version lives in the cache: one that every process shares, so an edit
    # in the admin reaches them all (INBOX["RULES_CACHE"], docs/rules.md).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": os.environ["INBOX_REDIS_URL"], "KEY_PREFIX": "demo"}}

# django.contrib.messages with persistent levels: inbox.contrib.messages (docs/messages.md).
MESSAGE_STORAGE = "inbox.contrib.messages.storage.PersistentStorage"

# The JSON API (docs/api.md) at /api/inbox/: sessions for the browsable API, DRF tokens (POST
# /api/token/ with a username and password) for scripts and apps, and HTTP Basic so that
# `curl -u alice:inbox-demo` works against the demo (over HTTPS only, on a real site).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
}
