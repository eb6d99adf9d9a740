"""Support for bench/channels.py: the settings of its two systems and django-notifs' side of the run.

``inbox_settings`` runs the kit (in the project's virtualenv); ``peer_settings``, ``peer_channels``
and ``peer`` run django-notifs in its own virtualenv (bench/.venv-notifs/), which has no ``inbox``.
"""
