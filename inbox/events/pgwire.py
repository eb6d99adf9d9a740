"""How events travel through PostgreSQL ``NOTIFY``: ids, never text, packed under 8,000 bytes.

A ``NOTIFY`` payload must be shorter than 8,000 bytes, so an event crosses with its recipient
label and the uids of its new notifications only: never ``details`` (each stream reads the
toasts of bare uids from the database, scoped to its own recipients). Silent notifications are
never stored, so they have no row to read back: their description (already cut to
``EVENT_PREVIEW_LENGTH``) travels, each distinct one once per payload.

A payload is ``{"shared": [description, ...], "items": [[recipient, [uid, ...], [[uid, index], ...]], ...]}``
(the silent list is left out when empty), packed greedily: as many events as fit. An event that
cannot fit alone is split into several events of the same recipient; a silent description that
cannot fit even alone is dropped (its recipient still gets a bare "changed" event) and reported
to the caller, which logs it. JSON is written with ``ensure_ascii``, so characters are bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from inbox.events.base import Event

#: PostgreSQL refuses a payload of 8,000 bytes or more (BLCKSZ - NAMEDATALEN - 128 on a default build).
NOTIFY_LIMIT = 7999
_EMPTY = len('{"shared":[],"items":[]}')


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class Packer:
    """Packs events into payload bodies of at most ``limit`` bytes, in order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: Silent descriptions dropped because even alone they exceed the limit (the caller logs it).
        self.dropped_silent = 0
        #: Events dropped whole: their recipient label alone exceeds the limit.
        self.dropped_events = 0
        self._start()

    def _start(self) -> None:
        self._shared: list[str] = []
        self._index: dict[str, int] = {}
        self._items: list[str] = []
        self._size = _EMPTY

    def _body(self) -> str:
        return '{"shared":[' + ",".join(self._shared) + '],"items":[' + ",".join(self._items) + "]}"

    def _try_add(self, event: Event) -> bool:
        """Add ``event`` to the payload being built if it fits; nothing changes when it does not."""
        new_shared: list[str] = []
        refs = []
        for item in event.silent:
            key = _dumps({name: value for name, value in item.items() if name != "uid"})
            if key in self._index:
                at = self._index[key]
            elif key in new_shared:
                at = len(self._shared) + new_shared.index(key)
            else:
                at = len(self._shared) + len(new_shared)
                new_shared.append(key)
            refs.append([item.get("uid"), at])
        encoded = _dumps([event.recipient, list(event.new), refs] if refs else [event.recipient, list(event.new)])
        size = self._size + len(encoded) + (1 if self._items else 0)
        size += sum(len(key) for key in new_shared) + len(new_shared) - (0 if self._shared or not new_shared else 1)
        if size > self.limit:
            return False
        for key in new_shared:
            self._index[key] = len(self._shared)
            self._shared.append(key)
        self._items.append(encoded)
        self._size = size
        return True

    def pack(self, events: Iterable[Event]) -> Iterator[str]:
        """The payload bodies for ``events``, consumed lazily, in order."""
        for event in events:
            yield from self._add(event)
        if self._items:
            yield self._body()
            self._start()

    def _add(self, event: Event) -> Iterator[str]:
        if self._try_add(event):
            return
        if self._items:  # full: send what we have and start a new payload with this event
            yield self._body()
            self._start()
            if self._try_add(event):
                return
        yield from self._split(event)

    def _split(self, event: Event) -> Iterator[str]:
        """An event too big for a payload of its own: its uids and silent items in halves, in order."""
        parts: list[tuple[str, Any]] = [("new", uid) for uid in event.new] + [("silent", item) for item in event.silent]
        if len(parts) <= 1:
            if event.silent:
                self.dropped_silent += 1
            bare = Event(recipient=event.recipient, new=event.new if not event.silent else ())
            if not self._try_add(bare):
                self.dropped_events += 1  # a recipient label of thousands of bytes: nothing to send
            return
        half = len(parts) // 2
        for piece in (parts[:half], parts[half:]):
            smaller = Event(recipient=event.recipient, new=tuple(value for kind, value in piece if kind == "new"),
                            silent=tuple(value for kind, value in piece if kind == "silent"))
            yield from self._add(smaller)


def unpack(body: bytes | str, wanted: Callable[[str], bool]) -> list[Event]:
    """The events of a payload whose recipient ``wanted`` accepts (those this process has streams for)."""
    data = json.loads(body)
    shared: list[dict[str, Any]] = data["shared"]
    found = []
    for item in data["items"]:
        recipient, uids, refs = item[0], item[1], item[2] if len(item) > 2 else []
        if not isinstance(recipient, str) or not wanted(recipient):
            continue
        if not all(isinstance(uid, str) for uid in uids):
            raise ValueError("uids must be strings")
        silent = tuple({**shared[at], "uid": uid} if uid is not None else dict(shared[at]) for uid, at in refs)
        found.append(Event(recipient=recipient, new=tuple(uids), silent=silent))
    return found
