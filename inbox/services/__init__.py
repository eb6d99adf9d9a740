"""The public write API: ``notifier.send`` and the ``manager`` helpers."""
