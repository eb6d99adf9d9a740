from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RulesConfig(AppConfig):
    """``INSTALLED_APPS += ["inbox.contrib.rules"]``: notifications from signals, set up in the admin
    (Trigger, Subscription) or in code (``watch``). See docs/rules.md."""

    name = "inbox.contrib.rules"
    label = "inbox_rules"
    verbose_name = _("Notification rules")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the dispatcher to Django's model signals and the registered ones. It must not
        # query the database: `manage.py check` runs before migrations exist.
        from inbox.contrib.rules import checks, dispatch, sections  # noqa: F401  (checks register themselves)

        dispatch.connect()
        sections.register_changes()  # the "Changes" diff on a notification's detail page
