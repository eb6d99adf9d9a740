from __future__ import annotations

from django.core.management.base import CommandError

from inbox.recipients import Key, parse_label


def parse_recipients(labels: list[str] | None) -> list[Key] | None:
    if not labels:
        return None
    try:
        return [parse_label(text) for text in labels]
    except ValueError as error:
        raise CommandError(str(error)) from None
