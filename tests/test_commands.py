from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from inbox.models import Notification, Stats
from inbox.services import manager, notifier
from tests.helpers import assert_stats_match_recount

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_collect_stats_all_and_one(alice, bob):
    notifier.send("x", [alice, bob])
    Stats.objects.update(unread=9)
    assert "for 1 recipient" in run("inbox_collect_stats", "--recipient", f"auth.user:{alice.pk}")
    assert Stats.objects.recipients([alice]).get().unread == 1
    assert Stats.objects.recipients([bob]).get().unread == 9
    assert "for 2 recipient" in run("inbox_collect_stats")
    assert_stats_match_recount()


def test_collect_stats_rejects_bad_recipient():
    with pytest.raises(CommandError):
        run("inbox_collect_stats", "--recipient", "auth.user")
    with pytest.raises(CommandError):
        run("inbox_collect_stats", "--recipient", "nope.model:1")


def test_clear_filters(alice, bob):
    old = timezone.now() - timedelta(days=40)
    notifier.send("old", [alice, bob], now=old)
    notifier.send("new", [alice, bob])
    manager.mark_read(Notification.objects.filter(message="new").recipients([alice]))
    assert "Would delete 2" in run("inbox_clear", "--older-than", "30", "--dry-run")
    assert "Deleted 1" in run("inbox_clear", "--read-only", "--recipient", f"auth.user:{alice.pk}")
    assert "Deleted 2" in run("inbox_clear", "--older-than", "30")
    assert list(Notification.objects.values_list("message", flat=True)) == ["new"]
    assert_stats_match_recount()


def test_clear_expired(alice):
    [gone] = notifier.send("gone", alice)
    notifier.send("kept", alice)
    Notification.objects.filter(pk=gone.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "Deleted 1" in run("inbox_clear", "--expired")
    assert Stats.objects.recipients([alice]).get().total == 1


def test_clear_refuses_without_a_filter(alice):
    notifier.send("x", alice)
    with pytest.raises(CommandError, match="--all"):
        run("inbox_clear")
    with pytest.raises(CommandError):
        run("inbox_clear", "--older-than", "-1")
    assert "Deleted 1" in run("inbox_clear", "--all")


def test_publish_due(alice):
    notifier.send("due", alice, send_at=timezone.now() - timedelta(seconds=1), now=timezone.now() - timedelta(minutes=1))
    notifier.send("later", alice, send_at=timezone.now() + timedelta(days=1))
    assert Stats.objects.recipients([alice]).get().total == 0
    assert "Published 1" in run("inbox_publish_due", "--batch-size", "1")
    assert "Published 0" in run("inbox_publish_due")
    assert Stats.objects.recipients([alice]).get().total == 1
    assert_stats_match_recount()


# -- inbox_clear --orphans (issue 8, defect 10) --------------------------------------------------


def _orphan_data(settings, alice, bob, carol):
    """Notifications and Stats of recipients deleted without erasure, or of a model that is gone."""
    from django.contrib.contenttypes.models import ContentType

    from tests.testapp.models import Team

    gone_team, kept_team = Team.objects.create(name="gone"), Team.objects.create(name="kept")
    notifier.send("hello", [alice, bob, carol, gone_team, kept_team])
    notifier.send("again", [alice, gone_team])
    settings.INBOX = {"RECIPIENT_MODELS": []}  # delete as a site did before erasure existed
    alice.delete()
    carol.delete()
    gone_team.delete()
    settings.INBOX = {}
    ghost = ContentType.objects.create(app_label="gone_app", model="ghost")
    Notification.objects.create(recipient_type=ghost, recipient_id="1", message="from a removed app")
    # A Stats row left with no notifications at all, and one with a key its model cannot have.
    user_type = ContentType.objects.get_for_model(alice)
    Stats.objects.create(recipient_type=user_type, recipient_id="999999")
    Stats.objects.create(recipient_type=ContentType.objects.get_for_model(Team), recipient_id="not-a-uuid")
    # Choices of a person deleted before erasure was on (settings.INBOX = {} above): orphans too.
    from inbox.models import Mute, Preference
    Preference.objects.create(recipient_type=user_type, recipient_id="999998", category="x", channel="email",
                              enabled=False)
    Mute.objects.create(recipient_type=user_type, recipient_id="999998", thread="target:1:1")
    Preference.objects.create(recipient_type=user_type, recipient_id=str(bob.pk), category="x", channel="email",
                              enabled=False)
    manager.collect_stats()
    return kept_team


def test_clear_orphans_dry_run_deletes_nothing(settings, alice, bob, carol):
    _orphan_data(settings, alice, bob, carol)
    before = (Notification.objects.count(), Stats.objects.count())
    out = run("inbox_clear", "--orphans", "--dry-run")
    assert ("Would delete 6 notification(s), 6 stats row(s) and 2 other row(s) (deliveries, preferences, "
            "digests, mutes) of 6 missing recipient(s).") in out
    assert (Notification.objects.count(), Stats.objects.count()) == before


@pytest.mark.parametrize("batch_size", ["1", "2", "1000"])
def test_clear_orphans_deletes_only_what_has_no_recipient(settings, alice, bob, carol, batch_size):
    kept_team = _orphan_data(settings, alice, bob, carol)
    out = run("inbox_clear", "--orphans", "--batch-size", batch_size)
    assert ("Deleted 6 notification(s), 6 stats row(s) and 2 other row(s) (deliveries, preferences, "
            "digests, mutes) of 6 missing recipient(s).") in out
    from inbox.models import Mute, Preference
    assert list(Preference.objects.values_list("recipient_id", flat=True)) == [str(bob.pk)]
    assert not Mute.objects.exists()
    assert sorted(Notification.objects.values_list("recipient_id", flat=True)) == sorted([str(bob.pk), str(kept_team.pk)])
    assert Stats.objects.count() == 2
    assert_stats_match_recount()
    assert "Deleted 0 notification(s), 0 stats row(s) and 0 other row(s)" in run("inbox_clear", "--orphans")


def test_clear_orphans_takes_no_other_filter(alice):
    for extra in (["--older-than", "1"], ["--read-only"], ["--all"], ["--recipient", f"auth.user:{alice.pk}"]):
        with pytest.raises(CommandError, match="--orphans"):
            run("inbox_clear", "--orphans", *extra)
    with pytest.raises(CommandError):
        run("inbox_clear", "--orphans", "--batch-size", "0")
