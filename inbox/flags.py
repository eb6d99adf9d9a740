"""Notification flags: the built-in ones and the registry for a site's own.

Built-in flags are stored as timestamps on the notification (``read_at`` and
friends) so that "unread, not archived, newest first" is a partial-index scan
and the UI can say *when* something was read. A site's own flags may take any
value that fits a signed 32-bit integer (the built-ins keep 1-4); each one a
notification has is a row of ``NotificationFlag`` (notification, value), indexed
both ways, so "has flag v" is an index lookup on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Union

from django.core.exceptions import ImproperlyConfigured


class Flag(enum.IntEnum):
    SEEN = 1
    READ = 2
    ARCHIVED = 3
    STARRED = 4


#: Built-in flag -> the model field that records it.
BUILTIN_FIELDS: dict[Flag, str] = {
    Flag.SEEN: "seen_at",
    Flag.READ: "read_at",
    Flag.ARCHIVED: "archived_at",
    Flag.STARRED: "starred_at",
}

#: A site's own flag values must fit the ``NotificationFlag.value`` column: a signed 32-bit integer.
VALUE_MIN = -(2**31)
VALUE_MAX = 2**31 - 1

FlagLike = Union[int, enum.Enum]


class FlagsRegistry:
    """Every flag the inbox knows. ``Notification.flags_registry`` is the instance."""

    def __init__(self) -> None:
        self._flags: dict[int, enum.Enum] = {member.value: member for member in Flag}

    def add(self, flags: type[enum.Enum]) -> type[enum.Enum]:
        """Register every member of an int enum; usable as a class decorator."""
        if not (isinstance(flags, type) and issubclass(flags, enum.Enum)):
            raise ImproperlyConfigured(f"Flags must be an int Enum class, not {flags!r}.")
        members = list(flags)
        for member in members:
            value = member.value
            if not isinstance(value, int) or isinstance(value, bool):
                raise ImproperlyConfigured(f"Flag {_name(member)} must have an int value, not {value!r}.")
            known = self._flags.get(value)
            if known is not None and known is not member:
                raise ImproperlyConfigured(
                    f"Flag {_name(member)} ({value}) clashes with the registered flag {_name(known)} ({value})."
                )
            if known is None and not VALUE_MIN <= value <= VALUE_MAX:
                raise ImproperlyConfigured(
                    f"Flag {_name(member)} has value {value}; a flag value must fit a signed 32-bit "
                    f"integer ({VALUE_MIN} to {VALUE_MAX})."
                )
        for member in members:
            self._flags[member.value] = member
        return flags

    def remove(self, flags: type[enum.Enum]) -> None:
        """Unregister a site's flags (mostly for tests); built-ins stay."""
        for member in flags:
            if self._flags.get(member.value) is member and not is_builtin(member):
                del self._flags[member.value]

    def get(self, flag: FlagLike) -> enum.Enum:
        """The registered member for ``flag``; ``ValueError`` when it is unknown."""
        value = flag.value if isinstance(flag, enum.Enum) else flag
        member = self._flags.get(value) if isinstance(value, int) and not isinstance(value, bool) else None
        if member is None or (isinstance(flag, enum.Enum) and member is not flag):
            raise ValueError(
                f"Unknown notification flag {flag!r}: register it with Notification.flags_registry.add()."
            )
        return member

    def resolve(self, flags: Iterable[FlagLike]) -> frozenset[enum.Enum]:
        return frozenset(self.get(flag) for flag in flags)

    def __iter__(self):
        return iter(sorted(self._flags.values(), key=lambda member: member.value))

    def __contains__(self, flag: object) -> bool:
        try:
            self.get(flag)  # type: ignore[arg-type]
        except ValueError:
            return False
        return True

    def custom(self) -> list[enum.Enum]:
        """A site's own flags (every registered one but the built-ins), by value."""
        return [member for member in self if not is_builtin(member)]

    def custom_values(self) -> list[int]:
        return [member.value for member in self.custom()]


def is_builtin(flag: enum.Enum) -> bool:
    return isinstance(flag, Flag)


def _name(member: enum.Enum) -> str:
    return f"{type(member).__name__}.{member.name}"
