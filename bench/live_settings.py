"""Settings for the live-update benchmark server: the test project, Redis broker from the environment."""

import os

from bench.settings import *  # noqa: F401,F403

ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INBOX = {
    "BROKER": "inbox.events.redis.RedisBroker",
    "BROKER_OPTIONS": {"url": os.environ.get("INBOX_REDIS_URL", "redis://127.0.0.1:6379/0"), "prefix": "bench:"},
    "SSE_HEARTBEAT": 30,
}
