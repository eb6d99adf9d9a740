"""The JSON API: seed 000's endpoints and filters, seed 002's ``me/notifications``, stream tokens.

    # urls.py
    path("api/inbox/", include("inbox.contrib.drf.urls")),

Needs Django REST Framework (``pip install "django-htmx-inbox[drf]"``); the views honour the site's
``REST_FRAMEWORK`` authentication, permissions, pagination and throttling. See docs/api.md.
"""

try:
    import rest_framework  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        'inbox.contrib.drf needs Django REST Framework: pip install "django-htmx-inbox[drf]".'
    ) from error
