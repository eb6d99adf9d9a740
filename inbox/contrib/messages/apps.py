from django.apps import AppConfig


class InboxMessagesConfig(AppConfig):
    """``INSTALLED_APPS += ["inbox.contrib.messages"]``: moves visitors' messages at every login, adds
    ``{% inbox_messages %}``, its views under the kit's URLs, and a conversation to a message's page."""

    name = "inbox.contrib.messages"
    label = "inbox_messages"  # "messages" is django.contrib.messages' label
    verbose_name = "Inbox messages"

    def ready(self) -> None:
        from inbox import sections
        from inbox.contrib.messages import conversation, pending

        pending.connect()
        sections.register(conversation.section, replaces_thread=True)
