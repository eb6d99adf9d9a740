"""Deleting (issue 8, defect 10): a deleted recipient takes its data along, and manager.delete
behaves like a Django delete for a site's own foreign keys and delete signals."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import ProtectedError
from django.db.models.deletion import Collector
from django.db.models.signals import post_delete, pre_delete

from inbox import erasure
from inbox.models import Notification, Stats
from inbox.services import manager, notifier
from inbox.signals import notifications_updated
from tests.helpers import assert_stats_match_recount
from tests.testapp.models import Article, Attachment, Bookmark, Pin, Tag, Team

pytestmark = pytest.mark.django_db


def messages_of(recipient) -> list[str]:
    return sorted(Notification.objects.recipients([recipient]).values_list("message", flat=True))


# -- A deleted recipient takes its notifications and Stats along ------------------------------


def test_deleting_a_user_erases_their_notifications_and_stats(alice, bob):
    notifier.send("to both", [alice, bob])
    notifier.send("to alice", alice)
    alice_pk = alice.pk
    alice.delete()
    assert not Notification.objects.filter(recipient_id=str(alice_pk)).exists()
    assert not Stats.objects.filter(recipient_id=str(alice_pk)).exists()
    assert messages_of(bob) == ["to both"]
    assert Stats.objects.recipients([bob]).get().total == 1
    assert_stats_match_recount()


def test_deleting_a_user_erases_their_choices_digests_and_mutes(alice, bob, settings):
    """Preferences, digest schedules, digests and muted threads name the person: they go too."""
    import datetime

    from inbox.models import Digest, DigestSchedule, Frequency, Mute, Preference
    from inbox.services import manager, preferences

    settings.INBOX = {**settings.INBOX, "PROVIDERS": {"email": {}}}
    for person in (alice, bob):
        preferences.set_preference(person, "comments", "email", False)
        preferences.set_schedule(person, "email", Frequency.DAILY)
        [first] = notifier.send("opened", person, target=bob)
        manager.mute(person, first)
        key = {"recipient_type_id": first.recipient_type_id, "recipient_id": first.recipient_id}
        Digest.objects.create(**key, channel="email", provider="email",
                              window_end=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    alice_pk = str(alice.pk)
    alice.delete()
    for model in (Preference, DigestSchedule, Digest, Mute):
        assert not model.objects.filter(recipient_id=alice_pk).exists(), model
        assert model.objects.filter(recipient_id=str(bob.pk)).exists(), model


def test_a_queryset_delete_erases_each_recipient(alice, bob, carol):
    notifier.send("hello", [alice, bob, carol])
    User.objects.filter(username__in=["alice", "bob"]).delete()
    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [str(carol.pk)]
    assert Stats.objects.count() == 1
    assert_stats_match_recount()


def test_erasure_shares_the_deletion_transaction(alice):
    notifier.send("kept", alice)
    pk = alice.pk
    with pytest.raises(RuntimeError), transaction.atomic():
        alice.delete()
        assert not Notification.objects.exists()
        raise RuntimeError("the deletion is rolled back")
    alice = User.objects.get(pk=pk)
    assert messages_of(alice) == ["kept"]
    assert Stats.objects.recipients([alice]).get().total == 1


def test_erasure_announces_like_any_delete(alice):
    notifier.send("x", alice)
    calls = []

    def listener(**kwargs):
        calls.append(kwargs["recipients"])

    notifications_updated.connect(listener)
    try:
        alice.delete()
    finally:
        notifications_updated.disconnect(listener)
    assert len(calls) == 1


def test_erase_keeps_the_recipient(alice, bob):
    notifier.send("x", [alice, bob])
    assert erasure.erase(alice) == 1
    assert User.objects.filter(pk=alice.pk).exists()
    assert messages_of(alice) == []
    assert not Stats.objects.recipients([alice]).exists()
    assert messages_of(bob) == ["x"]


def test_recipient_models_setting_chooses_the_models(settings, alice):
    team = Team.objects.create(name="ops")
    settings.INBOX = {"RECIPIENT_MODELS": ["testapp.Team"]}
    notifier.send("x", [alice, team])
    team.delete()  # a UUID primary key, stored as its string
    assert not Notification.objects.filter(recipient_id=str(team.id)).exists()
    alice_pk = alice.pk
    alice.delete()  # users are no longer erased under this setting
    assert Notification.objects.filter(recipient_id=str(alice_pk)).exists()


def test_an_empty_setting_erases_nothing(settings, alice):
    settings.INBOX = {"RECIPIENT_MODELS": []}
    notifier.send("x", alice)
    alice.delete()
    assert Notification.objects.count() == 1


def test_a_bad_model_name_is_a_configuration_error(settings):
    settings.INBOX = {"RECIPIENT_MODELS": ["auth.User"]}
    for bad in (["nope.Model"], ["not-a-label"]):
        with pytest.raises(ImproperlyConfigured, match="RECIPIENT_MODELS"):
            settings.INBOX = {"RECIPIENT_MODELS": bad}
    settings.INBOX = {}


def test_only_recipient_models_lose_fast_delete():
    """The receiver is per recipient model: other models of the site keep one-statement deletes."""
    sync, asynchronous = post_delete._live_receivers(User)
    assert erasure._recipient_deleted in sync
    for model in (Article, Tag, Team, Notification):
        sync, asynchronous = post_delete._live_receivers(model)
        assert erasure._recipient_deleted not in sync
    assert Collector(using="default").can_fast_delete(Article.objects.all())


# -- manager.delete and a site's foreign keys to Notification (core change: the collector) -----
#
# These need manager.delete to delete through Django's collector instead of _raw_delete.


def test_delete_cascades_to_a_site_model(alice, bob):
    [mine, theirs] = notifier.send("x", [alice, bob])
    Attachment.objects.create(notification=mine, name="a.pdf")
    Attachment.objects.create(notification=theirs, name="b.pdf")
    assert manager.delete(Notification.objects.recipients([alice])) == 1
    assert list(Attachment.objects.values_list("name", flat=True)) == ["b.pdf"]
    assert_stats_match_recount()


def test_delete_sets_a_site_models_key_to_null(alice):
    [sent] = notifier.send("x", alice)
    bookmark = Bookmark.objects.create(notification=sent)
    assert manager.delete(Notification.objects.all()) == 1
    bookmark.refresh_from_db()
    assert bookmark.notification_id is None
    assert Stats.objects.recipients([alice]).get().total == 0


def test_delete_refuses_a_protected_notification_and_changes_nothing(alice):
    [pinned] = notifier.send("x", alice)
    notifier.send("y", alice)
    Pin.objects.create(notification=pinned)
    with pytest.raises(ProtectedError):
        manager.delete(Notification.objects.all())
    assert Notification.objects.count() == 2
    assert Stats.objects.recipients([alice]).get().total == 2
    assert_stats_match_recount()


def test_delete_sends_django_delete_signals(alice, bob):
    sent = notifier.send("x", [alice, bob])
    seen: list[tuple[str, int]] = []

    def before(sender, instance, **kwargs):
        seen.append(("pre", instance.pk))

    def after(sender, instance, **kwargs):
        seen.append(("post", instance.pk))

    pre_delete.connect(before, sender=Notification)
    post_delete.connect(after, sender=Notification)
    try:
        assert manager.delete(Notification.objects.all()) == 2
    finally:
        pre_delete.disconnect(before, sender=Notification)
        post_delete.disconnect(after, sender=Notification)
    pks = sorted(n.pk for n in sent)
    assert sorted(pk for stage, pk in seen if stage == "pre") == pks
    assert sorted(pk for stage, pk in seen if stage == "post") == pks


def test_deleting_a_user_with_attachments_works(alice):
    [sent] = notifier.send("x", alice)
    Attachment.objects.create(notification=sent, name="a.pdf")
    alice.delete()
    assert not Notification.objects.exists()
    assert not Attachment.objects.exists()
