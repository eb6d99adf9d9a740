"""Built-in pipeline steps for ``INBOX["CHANGE_FLAG_PIPELINE"]`` and ``INBOX["PREPARATION_PIPELINE"]``.

A change-flag step takes a :class:`inbox.services.manager.FlagChange` and returns
it (or a replacement, via ``dataclasses.replace``). A preparation step takes the
list of unsaved notifications of one send and may edit them in place or return
a new list.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from inbox.flags import Flag

if TYPE_CHECKING:
    from inbox.services.manager import FlagChange


def read_implies_seen(change: FlagChange) -> FlagChange:
    """Reading something means having seen it; "unseen" means unread too."""
    if change.specify is not None:
        if Flag.READ in change.specify:
            return dataclasses.replace(change, specify=change.specify | {Flag.SEEN})
        return change
    add, remove = change.add, change.remove
    if Flag.READ in add and Flag.SEEN not in remove:
        add = add | {Flag.SEEN}
    if Flag.SEEN in remove and Flag.READ not in add:
        remove = remove | {Flag.READ}
    return dataclasses.replace(change, add=add, remove=remove)
