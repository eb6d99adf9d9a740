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
