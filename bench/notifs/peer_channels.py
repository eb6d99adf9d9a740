"""The e-mail channel a django-notifs site writes (the package ships the ``email`` provider, not a
channel): one message per notification, or with ``context["bulk"]`` one per address in
``context["addresses"]``, which the provider sends with ``send_bulk()`` over one connection."""

from django.conf import settings
from notifications.channels import BaseNotificationChannel

SUBJECT = "Maintenance tonight at 22:00."
BODY = "Maintenance tonight at 22:00.\n\nhttps://inbox.example/maintenance/\n"


class EmailChannel(BaseNotificationChannel):
    name = "email"
    providers = ["email"]

    def build_payload(self, provider):
        message = {"subject": SUBJECT, "body": BODY, "from_email": settings.DEFAULT_FROM_EMAIL}
        if self.context.get("bulk"):
            return [{**message, "to": [address]} for address in self.context["addresses"]]
        return {**message, "to": [self.notification.recipient.email]}
