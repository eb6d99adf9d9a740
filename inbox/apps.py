from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Inbox")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from inbox import channels, checks, erasure  # noqa: F401  (importing checks registers the system checks)

        # A site's own channels and providers register when their module is imported:
        # <app>/inbox_channels.py in any installed app, as admin.py is found.
        autodiscover_modules("inbox_channels")

        # Deleting a recipient (a user, by default) erases their notifications and Stats.
        erasure.connect()

        # The broker's module (redis-py, psycopg) is imported at start-up, not inside the first
        # send() of a worker or a command, where it cost 50-100 ms before the event left.
        _import_broker()


def _import_broker() -> None:
    from inbox import conf

    try:
        conf.load(conf.get("BROKER"))
    except Exception:  # a broker path that does not import is system check inbox.E003's to report
        pass
