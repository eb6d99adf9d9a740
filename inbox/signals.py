"""Signals sent by the core, in the order the seed sends them.

- ``notification_sent(sender=Notification, notification=...)``: once per new
  notification, only when a receiver is connected (building the instances costs).
- ``notifications_sent(sender=Notification, notifications=[...], recipients=...)``:
  once per send(), after every ``notification_sent``.
- ``notifications_flags_changed(sender=Notification, change=FlagChange, count=int)``
- ``notifications_updated(sender=Notification, recipients=[...])``: after any
  change to a recipient's notifications (flags, deletion, publication).
- ``notifications_committed(sender=Notification, notifications=[...], recipients=...)``:
  once per send(), after the transaction that stored them commits. Work that leaves the
  process (e-mail, webhooks, tasks) belongs here: it never runs for a send that rolls back.

All but ``notifications_committed`` run right after the kit's own transaction, so receivers
see the rows, inside the caller's transaction if one is open. Every signal is sent robustly:
a receiver that raises is logged (logger ``django.dispatch``) and never undoes the change or hides it
from the caller.
"""

from django.dispatch import Signal

notification_sent = Signal()
notifications_sent = Signal()
notifications_flags_changed = Signal()
notifications_updated = Signal()
notifications_committed = Signal()
