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
    # Recipients per short transaction when deleting, changing flags or recounting in bulk, so a
    # huge operation never holds the Stats rows of every recipient (and every sender) at once.
    "CHANGE_BATCH_SIZE": 1000,
    # The longest message send() accepts, in characters (after formatting).
    "MAX_MESSAGE_LENGTH": 10_000,
    # Message templates may read these objects' concrete fields, except any whose name contains
    # one of these words (case-insensitive); see docs/core.md, "Message templates".
    "MESSAGE_HIDDEN_FIELDS": ["password", "email", "token", "secret", "key", "hash", "salt", "otp",
                              "phone", "last_login", "is_superuser", "is_staff"],
    # Hosts a notification's absolute link may point at, besides settings.ALLOWED_HOSTS.
    "LINK_HOSTS": [],
    # Models whose deletion erases their notifications and Stats ("app_label.Model");
    # None means settings.AUTH_USER_MODEL.
    "RECIPIENT_MODELS": None,
    # --- UI kit ---
    # The template the inbox pages extend; it must define {% block content %}. The default is a
    # complete page of the kit, so a fresh project needs none; checks inbox.E030 / W030 catch a bad one.
    "BASE_TEMPLATE": "inbox/base.html",
    # Dotted paths of the classes behind the inbox page, so a site can subclass them.
    "TABLE_CLASS": "inbox.tables.NotificationTable",
    "FILTERSET_CLASS": "inbox.filters.NotificationFilter",
    "PAGE_SIZES": [25, 50, 100],
    # Models offered by the "actor type" filter, as "app_label.model".
    "ACTOR_TYPES": ["auth.user"],
    # Categories suggested by the category filter (any slug is accepted).
    "CATEGORIES": [],
    # --- inbox.contrib.messages ---
    # Reading a page marks read the signed-in person's unread persistent messages whose url is that
    # page (one indexed UPDATE per GET when the page did not already list their messages).
    "MESSAGES_READ_ON_VISIT": False,
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
    # Characters of a message an event carries (toast text); the full text stays in the database.
    "EVENT_PREVIEW_LENGTH": 280,
    # Open streams allowed per session (past it the oldest is closed) and per user (past it: 429).
    "SSE_MAX_STREAMS_PER_SESSION": 3,
    "SSE_MAX_STREAMS_PER_USER": 10,
    # Seconds a stream token (inbox.sse.tokens.issue, the API's POST stream-token/) may be used to
    # open a stream: "?token=" for EventSource and native apps, which cannot send headers. It only
    # governs opening; an open stream then lives while its user stays active with the same password.
    "STREAM_TOKEN_MAX_AGE": 30,
    # {% inbox_head %} loads htmx 2 and its SSE extension; set False when the site loads them itself.
    "LOAD_HTMX": True,
    # -- Channels (docs/channels.md) --
    # Options per provider: {"email": {"FROM": ...}, "webhook": {"URL": ..., "SECRET": ...},
    # "slack": {"WEBHOOK_URL": ...}}. A built-in channel is usable once its provider is listed here.
    "PROVIDERS": {},
    # The site's base URL ("https://example.com") for absolute links in e-mails, Slack and
    # webhooks; empty: the Sites framework's current domain, over https.
    "SITE_URL": "",
    # recipient -> e-mail address or None (recorded as skipped).
    "EMAIL_ADDRESS_RESOLVER": "inbox.channels.email.recipient_address",
    # Deliveries per task: one SMTP connection, one provider send_bulk() call.
    "DELIVERY_BATCH_SIZE": 500,
    # Attempts before a delivery is failed for good; the wait doubles from DELIVERY_BACKOFF seconds
    # after each failure, up to DELIVERY_BACKOFF_MAX.
    "DELIVERY_MAX_ATTEMPTS": 5,
    "DELIVERY_BACKOFF": 30,
    "DELIVERY_BACKOFF_MAX": 3600,
    # Seconds a worker holds the deliveries it claimed; a crashed worker's are taken again after it.
    "DELIVERY_LEASE": 600,
    # The Tasks API backend alias (settings.TASKS) delivery tasks are enqueued on.
    "TASK_BACKEND": "default",
    # -- Preferences (docs/preferences.md) --
    # Seconds an e-mail's one-click unsubscribe link (List-Unsubscribe, RFC 8058) keeps working;
    # 60 days, so an e-mail read after a holiday still unsubscribes. Older links are refused.
    "UNSUBSCRIBE_MAX_AGE": 60 * 24 * 60 * 60,
    # -- inbox.contrib.rules (docs/rules.md) --
    # The settings.CACHES alias holding the rules' version number. Each process re-reads it at most
    # every RULES_CACHE_SECONDS (0: at every signal) and reloads its rules when an edit moved it. It must
    # be a cache the processes share (Redis, Memcached, database): a per-process cache (LocMemCache, the
    # default) leaves other processes on their old rules (check inbox_rules.W001).
    "RULES_CACHE": "default",
    "RULES_CACHE_SECONDS": 1,
    # A function of no arguments returning the user acting now (or None), for rules whose trigger names
    # no actor field and whose signal passes no actor. The default reads
    # inbox.contrib.rules.middleware.CurrentUserMiddleware's request (and acting_as()).
    "RULES_ACTOR_RESOLVER": "inbox.contrib.rules.middleware.current_user",
    # Events per subscription (in one transaction) sent as one notification each; past it, one summary
    # notification ("1,000 projects were updated") with the events' keys in extra["pks"].
    "RULES_BATCH_SUMMARY": 20,
    # The TASKS alias rules' tasks go to; None: TASK_BACKEND (the deliveries'). An immediate backend
    # here renders rules in the process that saved, right after commit (live with the in-process broker).
    "RULES_TASK_BACKEND": None,
}

#: Settings whose values are dotted paths (or lists of them), checked at startup.
DOTTED_PATH_SETTINGS = (
    "RECIPIENTS_RESOLVER",
    "PREPARATION_PIPELINE",
    "CHANGE_FLAG_PIPELINE",
    "BROKER",
    "TABLE_CLASS",
    "FILTERSET_CLASS",
    "EMAIL_ADDRESS_RESOLVER",
    "RULES_ACTOR_RESOLVER",
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
