"""SentNotifications: what send() returns, kept as arrays."""

from __future__ import annotations

import uuid

from inbox.models import Notification
from inbox.services.sent import SentNotifications


def _prototype() -> Notification:
    return Notification(message="shared", category="news")


def test_a_page_extended_at_once_reads_back_as_each_row_appended_alone():
    uids = [uuid.uuid4() for _ in range(3)]
    one_by_one, at_once = SentNotifications(_prototype(), "default"), SentNotifications(_prototype(), "default")
    for pk, uid, recipient in zip([7, 8, 9], uids, [11, 12, 13], strict=True):
        one_by_one.append_new(pk, uid.bytes, 4, str(recipient))
    at_once.extend_new([7, 8, 9], b"".join(uid.bytes for uid in uids), 4, [11, 12, 13])
    expected = [(7, uids[0], 4, "11", "shared"), (8, uids[1], 4, "12", "shared"), (9, uids[2], 4, "13", "shared")]
    for sent in (one_by_one, at_once):
        assert [(n.pk, n.uid, n.recipient_type_id, n.recipient_id, n.message) for n in sent] == expected


def test_a_page_after_a_row_with_its_own_message_keeps_both():
    """A grouped head with its own message makes the messages per row: a page added afterwards
    takes the one-by-one path and reads back with the shared message."""
    sent = SentNotifications(_prototype(), "default")
    head_uid, new_uid = uuid.uuid4(), uuid.uuid4()
    sent.append(1, head_uid, 4, "abc", "alice and 1 other")
    sent.extend_new([2], new_uid.bytes, 4, [5])
    assert [(n.pk, n.uid, n.recipient_id, n.message) for n in sent] == [
        (1, head_uid, "abc", "alice and 1 other"), (2, new_uid, "5", "shared")]
