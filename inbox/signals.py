"""Signals sent by the core.

- ``notification_sent(sender=Notification, notification=...)``: once per new
  notification, only when a receiver is connected (building the instances costs).
- ``notifications_sent(sender=Notification, notifications=[...], recipients=[...])``:
  once per send().
- ``notifications_flags_changed(sender=Notification, change=FlagChange, count=int)``
- ``notifications_updated(sender=Notification, recipients=[...])``: after any
  change to a recipient's notifications (flags, deletion, publication).
"""

from django.dispatch import Signal

notification_sent = Signal()
notifications_sent = Signal()
notifications_flags_changed = Signal()
notifications_updated = Signal()
