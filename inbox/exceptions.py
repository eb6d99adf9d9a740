class NotificationError(Exception):
    """A notification operation was refused (not found, not yours, bad input)."""


class MessageFormatError(NotificationError, ValueError):
    """A message format string does not fit the arguments given to send()."""
