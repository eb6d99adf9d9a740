from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from inbox.models import Notification, Stats
from inbox.services import notifier

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, db):
    admin = User.objects.create_superuser("admin", password="pw")
    client.force_login(admin)
    return client


def test_changelists_render(admin_client, alice):
    notifier.send("<b>hello</b>", alice)
    response = admin_client.get(reverse("admin:inbox_notification_changelist") + "?state=unread")
    assert response.status_code == 200
    assert b"&lt;b&gt;hello&lt;/b&gt;" in response.content
    assert admin_client.get(reverse("admin:inbox_stats_changelist")).status_code == 200


def test_actions_keep_stats_right(admin_client, alice):
    sent = notifier.send("x", alice) + notifier.send("y", alice)
    url = reverse("admin:inbox_notification_changelist")
    admin_client.post(url, {"action": "mark_read", "_selected_action": [sent[0].pk]})
    assert Stats.objects.recipients([alice]).get().unread == 1
    admin_client.post(url, {"action": "delete_selected", "_selected_action": [sent[1].pk], "post": "yes"})
    stats = Stats.objects.recipients([alice]).get()
    assert (stats.total, stats.unread) == (1, 0)
    assert Notification.objects.count() == 1


def test_delete_one_in_admin_updates_stats(admin_client, alice):
    [sent] = notifier.send("x", alice)
    admin_client.post(reverse("admin:inbox_notification_delete", args=[sent.pk]), {"post": "yes"})
    assert Stats.objects.recipients([alice]).get().total == 0


def test_state_filter_uses_the_shared_definitions(admin_client, alice):
    from datetime import timedelta

    from django.utils import timezone

    from inbox.flags import Flag

    notifier.send("plain unread", alice)
    notifier.send("archived unread", alice, flags=[Flag.ARCHIVED])
    notifier.send("scheduled", alice, send_at=timezone.now() + timedelta(hours=1))
    url = reverse("admin:inbox_notification_changelist")
    unread = admin_client.get(url + "?state=unread").content
    assert b"plain unread" in unread and b"archived unread" not in unread  # as Stats.unread counts
    scheduled = admin_client.get(url + "?state=scheduled").content
    assert b"scheduled" in scheduled and b"plain unread" not in scheduled


def test_issue_11_records_are_shown_not_edited(admin_client, alice):
    from datetime import timedelta

    from django.utils import timezone

    from inbox.models import Digest, DigestSchedule, Mute, Preference
    from inbox.recipients import key_of

    type_id, object_id = key_of(alice)
    owner = {"recipient_type_id": type_id, "recipient_id": object_id}
    rows = {
        "digest": Digest.objects.create(**owner, channel="email", provider="email", size=3, status="failed",
                                        window_end=timezone.now() - timedelta(hours=1), last_error="<b>down</b>"),
        "digestschedule": DigestSchedule.objects.create(**owner, channel="email", frequency="daily"),
        "preference": Preference.objects.create(**owner, category="", channel="email", enabled=False),
        "mute": Mute.objects.create(**owner, thread="root:abc"),
    }
    for name, row in rows.items():
        changelist = admin_client.get(reverse(f"admin:inbox_{name}_changelist"))
        assert changelist.status_code == 200, name
        assert f"user: {alice.pk}".encode() in changelist.content, name
        change = admin_client.get(reverse(f"admin:inbox_{name}_change", args=[row.pk]))
        assert change.status_code == 200, name
        assert b'type="submit" value="Save"' not in change.content, name  # read-only
        assert admin_client.get(reverse(f"admin:inbox_{name}_add")).status_code == 403, name
        assert admin_client.post(reverse(f"admin:inbox_{name}_change", args=[row.pk]), {}).status_code == 403, name
    assert b"&lt;b&gt;down&lt;/b&gt;" in admin_client.get(reverse("admin:inbox_digest_changelist")).content
    assert b"the channel&#x27;s switch" in admin_client.get(reverse("admin:inbox_preference_changelist")).content
    # The digest log stays; a person's choice may be deleted (back to the default).
    assert admin_client.post(reverse("admin:inbox_digest_delete", args=[rows["digest"].pk]), {"post": "yes"}).status_code == 403
    admin_client.post(reverse("admin:inbox_preference_delete", args=[rows["preference"].pk]), {"post": "yes"})
    admin_client.post(reverse("admin:inbox_mute_delete", args=[rows["mute"].pk]), {"post": "yes"})
    assert not Preference.objects.exists() and not Mute.objects.exists()
    assert Digest.objects.exists()
