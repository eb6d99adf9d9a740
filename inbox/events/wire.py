"""How events travel through Redis: one event per message, or many packed into one.

A broadcast's events differ only in recipient and uid; everything else (the preview, level,
url, time) is the same. A packed message stores each distinct description once and lists
``[recipient, new, details, silent]`` per event, where ``details`` and ``silent`` are
``[uid, index into shared]`` pairs and ``new`` is null when it equals the details' uids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from inbox.events.base import Event


def encode_event(event: Event) -> bytes:
    return json.dumps(event.as_dict(), separators=(",", ":")).encode()


def decode_event(body: bytes) -> Event:
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("recipient"), str):
        raise ValueError("not an event")
    return Event.from_dict(data)


def pack(events: Iterable[Event]) -> bytes:
    shared: list[dict[str, Any]] = []
    index: dict[str, int] = {}

    def refer(item: dict[str, Any]) -> list[Any]:
        rest = {name: value for name, value in item.items() if name != "uid"}
        key = json.dumps(rest, sort_keys=True)
        if key not in index:
            index[key] = len(shared)
            shared.append(rest)
        return [item.get("uid"), index[key]]

    items = []
    for event in events:
        details = [refer(item) for item in event.details]
        new = None if list(event.new) == [uid for uid, _ in details] else list(event.new)
        items.append([event.recipient, new, details, [refer(item) for item in event.silent]])
    return json.dumps({"shared": shared, "items": items}, separators=(",", ":")).encode()


def unpack(body: bytes, wanted: Callable[[str], bool]) -> list[Event]:
    """The packed events whose recipient ``wanted`` accepts (those this process has streams for)."""
    data = json.loads(body)
    shared: list[dict[str, Any]] = data["shared"]

    def expand(refs: list[list[Any]]) -> tuple[dict[str, Any], ...]:
        return tuple({**shared[at], "uid": uid} if uid is not None else dict(shared[at]) for uid, at in refs)

    found = []
    for recipient, new, details, silent in data["items"]:
        if not isinstance(recipient, str) or not wanted(recipient):
            continue
        described = expand(details)
        uids = tuple(new) if new is not None else tuple(item["uid"] for item in described)
        found.append(Event(recipient=recipient, new=uids, silent=expand(silent), details=described))
    return found
