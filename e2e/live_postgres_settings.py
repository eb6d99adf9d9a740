"""The example site on the PostgreSQL LISTEN/NOTIFY broker (e2e/test_live_postgres_broker.py).

The example site picks the Redis broker from INBOX_REDIS_URL and otherwise the in-process one;
this module adds the third choice without touching the site's own settings.
"""

from example_site.settings import *  # noqa: F401,F403
from example_site.settings import INBOX

INBOX = {**INBOX, "BROKER": "inbox.events.postgres.PostgresBroker"}
