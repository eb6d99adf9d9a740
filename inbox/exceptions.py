class NotificationError(Exception):
    """A notification operation was refused (not found, not yours, bad input)."""


class MessageFormatError(NotificationError, ValueError):
    """A message format string does not fit the arguments given to send()."""


class MessageTooLongError(MessageFormatError):
    """A rendered message is longer than INBOX["MAX_MESSAGE_LENGTH"] (or a format spec would make it so)."""


class PreferenceError(NotificationError):
    """A preference or digest schedule was refused: a locked category, an unknown channel, a bad value."""
