"""Persistent message levels: Django's levels plus 100, stored as the kit's ``Level``.

``messages.add_message(request, inbox_messages.WARNING, ...)`` stores a notification; Django's own
``messages.WARNING`` keeps its usual one-request life. The numbers sit above every level Django
defines (10..40), so a site's own ``MESSAGE_TAGS`` or levels never collide with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.messages import constants as django_levels
from django.contrib.messages.utils import get_level_tags

if TYPE_CHECKING:
    from inbox.models import Level

#: How far a persistent level sits above the Django level it stands for.
OFFSET = 100

DEBUG = django_levels.DEBUG + OFFSET  # 110
INFO = django_levels.INFO + OFFSET  # 120
SUCCESS = django_levels.SUCCESS + OFFSET  # 125
WARNING = django_levels.WARNING + OFFSET  # 130
ERROR = django_levels.ERROR + OFFSET  # 140

PERSISTENT_LEVELS = frozenset({DEBUG, INFO, SUCCESS, WARNING, ERROR})

#: The category persistent messages are sent with, and read back by, the storage.
CATEGORY = "messages"


def is_persistent(level: int) -> bool:
    return level in PERSISTENT_LEVELS


def kit_level(level: int) -> Level:
    """The kit's ``Level`` for a persistent level or a Django level; ``ValueError`` for any other."""
    # Imported here: this module is imported while apps load (INSTALLED_APPS), before models can be.
    from inbox.models import Level

    base = level - OFFSET if is_persistent(level) else level
    try:
        return Level(base)
    except ValueError:
        raise ValueError(
            f"{level!r} is not a message level: use django.contrib.messages' levels (10..40) "
            "or inbox.contrib.messages' persistent ones (110..140)."
        ) from None


def persistent_level(level: int) -> int:
    """The persistent level for a persistent level, a Django level or a kit ``Level``."""
    return int(kit_level(level)) + OFFSET


def level_tag(level: int) -> str:
    """The CSS tag Django would give the level: a ``MESSAGE_TAGS`` entry for the persistent level
    wins, else the tag of the Django level it stands for ("warning")."""
    tags = get_level_tags()
    if level in tags:
        return tags[level]
    return tags.get(int(kit_level(level)), "")
