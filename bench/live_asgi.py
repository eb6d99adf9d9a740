"""The benchmark server: Django's own view at /inbox/events/, the thread-free mount at /mounted/events/."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.live_settings")
django_application = get_asgi_application()

from inbox.asgi import with_inbox_events  # noqa: E402  (needs Django set up, above)

application = with_inbox_events(django_application, path="/mounted/events/")
