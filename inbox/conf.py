"""The ``settings.INBOX`` dict, its documented defaults, and dotted-path loading."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    # Maps a request to the recipients whose notifications it may see.
    "RECIPIENTS_RESOLVER": "inbox.recipients.default_resolver",
    # Callables run over the unsaved notifications of one send().
    "PREPARATION_PIPELINE": [],
    # Callables run over each FlagChange before it is written.
    "CHANGE_FLAG_PIPELINE": ["inbox.pipelines.read_implies_seen"],
    # Where "this recipient changed" events go; see inbox.events.
    "BROKER": "inbox.events.inprocess.InProcessBroker",
    "BROKER_OPTIONS": {},
    # Rows per INSERT when sending.
    "BATCH_SIZE": 1000,
    # --- UI kit ---
    # The template the inbox pages extend; it must define {% block content %}.
    "BASE_TEMPLATE": "inbox/base.html",
    # Dotted paths of the classes behind the inbox page, so a site can subclass them.
    "TABLE_CLASS": "inbox.tables.NotificationTable",
    "FILTERSET_CLASS": "inbox.filters.NotificationFilter",
    "PAGE_SIZES": [25, 50, 100],
    # Models offered by the "actor type" filter, as "app_label.model".
    "ACTOR_TYPES": ["auth.user"],
    # Categories suggested by the category filter (any slug is accepted).
    "CATEGORIES": [],
    # --- Live updates (Server-Sent Events) ---
    # Seconds between heartbeat comments, so proxies keep idle streams open.
    "SSE_HEARTBEAT": 15,
    # Milliseconds the browser waits before reconnecting (the stream's "retry:").
    "SSE_RETRY_MS": 2000,
    # Under WSGI (runserver) a stream holds a thread: end it after this many seconds.
    "SSE_WSGI_SECONDS": 25,
    # Seconds at least between two renders of one stream: the first event after a quiet spell
    # goes out at once; a burst is gathered into one badge (and a few toasts) per interval.
    "SSE_MIN_INTERVAL": 0.5,
    # Toasts shown for one burst; more become a single "N new notifications".
    "SSE_TOASTS_PER_BURST": 3,
    # Also send each new notification's data as JSON ("notification" events). Off by default.
    "EVENT_DATA": False,
}

#: Settings whose values are dotted paths (or lists of them), checked at startup.
DOTTED_PATH_SETTINGS = (
    "RECIPIENTS_RESOLVER",
    "PREPARATION_PIPELINE",
    "CHANGE_FLAG_PIPELINE",
    "BROKER",
    "TABLE_CLASS",
    "FILTERSET_CLASS",
)


def user_settings() -> dict[str, Any]:
    value = getattr(settings, "INBOX", {})
    return value if isinstance(value, dict) else {}


def get(name: str) -> Any:
    if name not in DEFAULTS:
        raise KeyError(f"Unknown INBOX setting {name!r}.")
    return user_settings().get(name, DEFAULTS[name])


@cache
def load(path: str) -> Any:
    return import_string(path)


def load_list(name: str) -> list[Any]:
    return [load(path) for path in get(name)]


@receiver(setting_changed)
def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    if setting == "INBOX":
        load.cache_clear()
        from inbox import events

        events.reset_broker()
