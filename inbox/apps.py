from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Inbox")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inbox import checks, erasure  # noqa: F401  (importing checks registers the system checks)

        # Deleting a recipient (a user, by default) erases their notifications and Stats.
        erasure.connect()
