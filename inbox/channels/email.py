"""The ``email`` provider and channel: Django's mail API, text and HTML, one connection per batch.

The bodies come from templates a site overrides: ``inbox/email/subject.txt``,
``inbox/email/body.txt`` and ``inbox/email/body.html``. The backend is the site's
``EMAIL_BACKEND`` (SMTP, django-anymail, the console...).
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping, Sequence
from email.utils import make_msgid
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import models
from django.template.loader import render_to_string
from django.urls import NoReverseMatch
from django.utils.translation import gettext_lazy as _

from inbox import categories, conf, unsubscribe
from inbox.channels import site
from inbox.channels.base import Channel, DeliveryError, Outcome, Provider, SkipDelivery
from inbox.models import Notification
from inbox.recipients import Key


def recipient_address(recipient: models.Model) -> str | None:
    """The default ``EMAIL_ADDRESS_RESOLVER``: the recipient's ``email``, if it has one."""
    address = getattr(recipient, "email", None)
    return address if isinstance(address, str) and address else None


class EmailProvider(Provider):
    """Options: ``FROM`` (default ``DEFAULT_FROM_EMAIL``), ``REPLY_TO`` (a list)."""

    name = "email"

    def build_payload(self, notification: Notification, context: Mapping[str, Any]) -> dict[str, Any]:
        recipient = notification.recipient
        address = conf.load(conf.get("EMAIL_ADDRESS_RESOLVER"))(recipient)
        if not address:
            raise SkipDelivery("the recipient has no e-mail address")
        unsubscribe_url, headers = self.unsubscribe((notification.recipient_type_id, notification.recipient_id),
                                                    notification.category)
        template_context = {
            "notification": notification,
            "recipient": recipient,
            "link": site.absolute(notification.url),
            **self.links,
            "unsubscribe_url": unsubscribe_url,
            "category_label": categories.get(notification.category).label if notification.category else "",
            "context": context,
        }
        subject = " ".join(render_to_string("inbox/email/subject.txt", template_context).split())
        return {
            "to": [address],
            "subject": subject,
            "text": render_to_string("inbox/email/body.txt", template_context),
            "html": render_to_string("inbox/email/body.html", template_context),
            "headers": headers,
        }

    def unsubscribe(self, key: Key, category: str) -> tuple[str, dict[str, str]]:
        """The one-click unsubscribe link of a message (``""`` when there is none) and its headers.

        A locked category cannot be turned off: its messages point at the preferences page, with
        no one-click POST. A site whose URLconf lacks ``inbox:unsubscribe`` gets the same.
        """
        if not (category and categories.get(category).locked):
            try:
                found = unsubscribe.headers(key, category, EmailChannel.name)
            except NoReverseMatch:
                pass
            else:
                return found["List-Unsubscribe"][1:-1], found
        return "", {"List-Unsubscribe": f"<{self.links['preferences_url']}>"}

    @cached_property
    def links(self) -> dict[str, str]:
        """The same for every message: worked out once per batch (a provider serves one batch)."""
        return {"inbox_url": site.inbox_url(), "preferences_url": site.preferences_url()}

    @cached_property
    def domain(self) -> str | None:
        return site.site_url().split("//", 1)[-1].split("/", 1)[0].split(":", 1)[0] or None

    def message(self, payload: Mapping[str, Any], connection: Any) -> EmailMultiAlternatives:
        headers = {"Message-ID": make_msgid(domain=self.domain), **payload.get("headers", {})}
        message = EmailMultiAlternatives(
            subject=payload["subject"], body=payload["text"],
            from_email=self.options.get("FROM") or settings.DEFAULT_FROM_EMAIL,
            to=payload["to"], reply_to=self.options.get("REPLY_TO"), headers=headers, connection=connection,
        )
        if payload.get("html"):
            message.attach_alternative(payload["html"], "text/html")
        return message

    def send(self, payload: Mapping[str, Any]) -> str | None:
        return self._send_one(payload, None)

    def _send_one(self, payload: Mapping[str, Any], connection: Any) -> str:
        message = self.message(payload, connection)
        try:
            message.send(fail_silently=False)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            # The server read the message and refused it: a 5xx will not change on a retry.
            code = getattr(error, "smtp_code", None) or _first_code(error)
            raise DeliveryError(f"{type(error).__name__}: {error}", retry=not (code and 500 <= code < 600)) from error
        return str(message.extra_headers["Message-ID"])

    def send_bulk(self, payloads: Sequence[Mapping[str, Any]]) -> list[Outcome]:
        """Every message over one connection to the mail server."""
        outcomes: list[Outcome] = []
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except Exception as error:  # the server is down: every message of the batch waits
            return [error] * len(payloads)
        try:
            for payload in payloads:
                try:
                    outcomes.append(self._send_one(payload, connection))
                except Exception as error:
                    outcomes.append(error)
        finally:
            try:
                connection.close()
            except Exception:  # a failed QUIT after the messages went out changes nothing
                pass
        return outcomes


def _first_code(error: Exception) -> int | None:
    """The SMTP code of the first refused recipient (SMTPRecipientsRefused keeps one per address)."""
    recipients = getattr(error, "recipients", None) or {}
    for code, _message in recipients.values():
        return int(code)
    return None


class EmailChannel(Channel):
    name = "email"
    label = _("E-mail")
    providers = ["email"]
