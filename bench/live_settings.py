"""Settings for the live-update benchmark server: the test project, Redis broker from the environment."""

import os

from bench.settings import *  # noqa: F401,F403

ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INBOX = {
    "BROKER": "inbox.events.redis.RedisBroker",
    "BROKER_OPTIONS": {"url": os.environ.get("INBOX_REDIS_URL", "redis://127.0.0.1:6379/0"), "prefix": "bench:"},
    "SSE_HEARTBEAT": 30,
    # The idle-stream rows hold thousands of streams on one session to measure memory per stream;
    # the product's caps (a few per session, ten per user) would refuse them, so lift them here.
    "SSE_MAX_STREAMS_PER_SESSION": 100_000,
    "SSE_MAX_STREAMS_PER_USER": 100_000,
}
