"""Pipeline steps used by the tests through settings.INBOX."""

from django.utils import timezone


def shout(notifications):
    for notification in notifications:
        notification.message = notification.message.upper()


def drop_bob(notifications):
    return [n for n in notifications if n.recipient.username != "bob"]


def mark_read(notifications):
    for notification in notifications:
        notification.read_at = timezone.now()


def forbid_unstar(change):
    from inbox.flags import Flag

    return type(change)(**{**change.__dict__, "remove": change.remove - {Flag.STARRED}})


def flag_thousand(notifications):
    """Gives every notification the site flag 1000, which the send itself did not ask for."""
    from inbox.models import set_known_custom_flags

    for notification in notifications:
        set_known_custom_flags(notification, frozenset({1000}))
    return notifications
