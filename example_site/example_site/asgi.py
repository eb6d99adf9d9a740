import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_site.settings")
django_application = get_asgi_application()

from inbox.asgi import with_inbox_events  # noqa: E402  (needs the settings loaded above)

# The event stream is served before Django's middleware: no thread per open stream.
application = with_inbox_events(django_application)

if settings.DEBUG:
    # Under uvicorn nothing else serves the demo's static files (runserver does this itself).
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
