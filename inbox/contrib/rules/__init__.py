"""Notifications from signals: rules set up in the admin (Trigger → Subscription) or in code (``watch``).

    INSTALLED_APPS += ["inbox.contrib.rules"]

    from inbox.contrib.rules import register_signal, receivers, watch

    register_signal("movie_released", movie_released)   # a site's own signal, selectable by name

    @receivers("movie_audience")                         # receivers computed by code, selectable by name
    def audience(*, instance, **signal_kwargs):
        return instance.ticket_holders.all()

    watch(Project, fields=("status", "title"), receivers="project_members")

Nothing is rendered or sent inside ``save()``: the dispatcher records an event, and after commit one
task per subscription renders the messages and sends them through ``inbox.services.notifier.send``.
See docs/rules.md. Importing this package imports no model (it is also the app's package).
"""

from __future__ import annotations

from inbox.contrib.rules.registry import WatchRule, receivers, register_signal, unwatch, watch

__all__ = ["WatchRule", "register_signal", "receivers", "unwatch", "watch"]
