"""Absolute links for messages read outside the site (e-mail, Slack, webhooks)."""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from inbox import conf


def site_url() -> str:
    """``INBOX["SITE_URL"]``, or the Sites framework's current domain over https; no trailing slash."""
    configured = conf.get("SITE_URL")
    if configured:
        return str(configured).rstrip("/")
    if apps.is_installed("django.contrib.sites"):
        from django.contrib.sites.models import Site

        return f"https://{Site.objects.get_current().domain}".rstrip("/")
    raise ImproperlyConfigured(
        _('Links in e-mails, Slack and webhooks must be absolute: set INBOX["SITE_URL"] '
          '(e.g. "https://example.com") or install django.contrib.sites.')
    )


def can_build_links() -> bool:
    return bool(conf.get("SITE_URL")) or apps.is_installed("django.contrib.sites")


def absolute(link: str) -> str:
    """``link`` (a notification's checked link, or a path) as an absolute URL; "" stays ""."""
    if not link or link.startswith(("http://", "https://")):
        return link
    if link.startswith(("?", "#")):
        link = "/" + link
    return site_url() + link


def inbox_url() -> str:
    """The inbox page, absolute: where "see all" leads."""
    return absolute(reverse("inbox:list"))


def preferences_url() -> str:
    """The preferences page, absolute, once the site's URLconf has it; else the inbox."""
    try:
        return absolute(reverse("inbox:preferences"))
    except NoReverseMatch:
        return inbox_url()
