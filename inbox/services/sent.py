"""What ``send()`` returns: the new notifications, kept compactly so a broadcast stays small.

A send to 200,000 recipients must not hold 200,000 model instances (about 1 KB each) or
200,000 events until commit. Every notification of one send shares all its values but a few
(primary key, uid, recipient, and the message when it names the recipient), so only those are
kept, in arrays: about 40 bytes a recipient. Instances are built when read, from a shared
prototype, far cheaper than ``Model.__init__``.
"""

from __future__ import annotations

import uuid
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, overload

from django.db.models.base import ModelState

from inbox.models import _KNOWN_CUSTOM_FLAGS, Notification


class SentNotifications(Sequence[Notification]):
    """A read-only list of the notifications one ``send()`` stored, newest ids last.

    Each access builds a fresh instance (``sent[0] is sent[0]`` is false); compare by ``pk``.
    """

    def __init__(self, prototype: Notification, db: str) -> None:
        self._prototype = prototype
        self._db = db
        self._ids = array("q")
        self._uids = bytearray()
        self._types = array("q")
        # Integer primary keys (the usual case) as numbers; any other key as text.
        self._int_recipients: array[int] | None = array("q")
        self._recipients: list[str] = []
        self._messages: list[str] | None = None
        #: Index -> the values of a grouped row (``send(group_key=...)``) that differ from the prototype.
        self._overrides: dict[int, dict[str, Any]] = {}

    def append(
        self,
        pk: int,
        uid: uuid.UUID,
        type_id: int,
        recipient_id: str,
        message: str | None,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        """Add one notification; ``overrides`` are the fields in which it differs from the prototype
        besides these (a grouped row that absorbed the send keeps its own creation time, size...)."""
        if overrides:
            self._overrides[len(self._ids)] = overrides
        self._ids.append(pk)
        self._uids += uid.bytes
        self._types.append(type_id)
        if self._int_recipients is not None and _is_int(recipient_id):
            self._int_recipients.append(int(recipient_id))
        else:
            if self._int_recipients is not None:  # the first key that is not an integer
                self._recipients = [str(value) for value in self._int_recipients]
                self._int_recipients = None
            self._recipients.append(recipient_id)
        if message is not None:
            if self._messages is None:
                self._messages = [self._prototype.message] * (len(self._ids) - 1)
            self._messages.append(message)
        elif self._messages is not None:
            self._messages.append(self._prototype.message)

    def append_new(self, pk: int, uid: bytes, type_id: int, recipient_id: str) -> None:
        """Add one notification that is the prototype but for these (``uid`` as its 16 bytes): the
        path of a big send, which builds no UUID object per recipient."""
        if self._messages is not None or self._int_recipients is None or not _is_int(recipient_id):
            self.append(pk, uuid.UUID(bytes=uid), type_id, recipient_id, None)
            return
        self._ids.append(pk)
        self._uids += uid
        self._types.append(type_id)
        self._int_recipients.append(int(recipient_id))

    def extend_new(self, ids: Sequence[int], uids: bytes, type_id: int, recipient_ids: Sequence[int]) -> None:
        """Add notifications that are the prototype but for these: integer recipient keys, and the
        uids' 16 bytes each, end to end. A big send's page goes in without a call per recipient."""
        if self._messages is not None or self._int_recipients is None:
            for index, (pk, recipient_id) in enumerate(zip(ids, recipient_ids, strict=True)):
                self.append_new(pk, uids[index * 16 : index * 16 + 16], type_id, str(recipient_id))
            return
        self._ids.extend(ids)
        self._uids += uids
        self._types.extend(array("q", [type_id]) * len(ids))
        self._int_recipients.extend(recipient_ids)

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self) -> Sequence[int]:
        """The primary keys, in order, without building instances."""
        return self._ids

    @overload
    def __getitem__(self, index: int) -> Notification: ...

    @overload
    def __getitem__(self, index: slice) -> list[Notification]: ...

    def __getitem__(self, index: int | slice) -> Notification | list[Notification]:
        if isinstance(index, slice):
            return [self._build(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("notification index out of range")
        return self._build(index)

    def __iter__(self) -> Iterator[Notification]:
        for index in range(len(self)):
            yield self._build(index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: Sequence[Notification]) -> list[Notification]:
        return [*self, *other]

    def __radd__(self, other: Sequence[Notification]) -> list[Notification]:
        return [*other, *self]

    def __repr__(self) -> str:
        return f"<SentNotifications: {len(self)}>"

    def recipient_id(self, index: int) -> str:
        return str(self._int_recipients[index]) if self._int_recipients is not None else self._recipients[index]

    @property
    def prototype(self) -> Notification:
        """The values every notification of this send shares (its pk, uid and recipient are unset)."""
        return self._prototype

    def compact(self) -> Iterator[tuple[int, str, uuid.UUID, Notification | None]]:
        """(recipient type id, recipient id, uid, instance) of each notification, cheaply: the
        instance is built only when its message differs from the prototype's, else it is None."""
        uids = self._uids
        for index in range(len(self)):
            own = self._build(index) if self._messages is not None or index in self._overrides else None
            yield self._types[index], self.recipient_id(index), uuid.UUID(bytes=bytes(uids[index * 16 : index * 16 + 16])), own

    def _build(self, index: int) -> Notification:
        notification = Notification.__new__(Notification)
        values: dict[str, Any] = {
            "id": self._ids[index],
            "uid": uuid.UUID(bytes=bytes(self._uids[index * 16 : index * 16 + 16])),
            "recipient_type_id": self._types[index],
            "recipient_id": self.recipient_id(index),
        }
        if self._messages is not None:
            values["message"] = self._messages[index]
        notification.__dict__.update(self._prototype.__dict__, **values)
        overrides = self._overrides.get(index)
        if overrides is not None:
            notification.__dict__.update(overrides)
            # A grouped row keeps its own flags, which the prototype does not know: read them if asked.
            notification.__dict__.pop(_KNOWN_CUSTOM_FLAGS, None)
        state = notification._state = ModelState()
        state.adding, state.db = False, self._db
        return notification


def _is_int(text: str) -> bool:
    return text.isdigit() and len(text) < 19 and (text == "0" or not text.startswith("0"))
