"""django-htmx-inbox: a complete notifications inbox for Django."""

__version__ = "0.1.0"

#: Everything the kit needs in INSTALLED_APPS: ``INSTALLED_APPS = [..., *inbox.INSTALLED_APPS]``.
INSTALLED_APPS = ["django_htmx", "template_partials", "inbox"]
