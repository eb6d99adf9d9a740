"""django-htmx-inbox: a complete notifications inbox for Django."""

__version__ = "0.1.0"
