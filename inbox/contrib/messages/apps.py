from django.apps import AppConfig


class InboxMessagesConfig(AppConfig):
    """``INSTALLED_APPS += ["inbox.contrib.messages"]``: moves visitors' messages at every login."""

    name = "inbox.contrib.messages"
    label = "inbox_messages"  # "messages" is django.contrib.messages' label
    verbose_name = "Inbox messages"

    def ready(self) -> None:
        from inbox.contrib.messages import pending

        pending.connect()
