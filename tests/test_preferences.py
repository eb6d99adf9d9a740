"""Preferences per category × channel and digest schedules (inbox.services.preferences), and what
send() makes of them: deliveries pending, skipped (with the reason, never sent) or waiting for a
digest, read in a constant number of queries for any number of recipients. The built-in channels
are checked against real servers (SMTP and HTTP sinks)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox import checks
from inbox.channels import Channel, Provider
from inbox.exceptions import NotificationError, PreferenceError
from inbox.models import Delivery, DigestSchedule, Frequency, Notification, Preference
from inbox.services import notifier, preferences
from tests.sinks import (  # noqa: F401
    HttpSink,
    email_settings_fixture,
    http_sink_fixture,
    http_sinks_fixture,
    smtp_sink_fixture,
)

pytestmark = pytest.mark.django_db

SITE = {"SITE_URL": "https://example.com"}
CATEGORIES = [
    {"slug": "comments", "label": "Comments"},
    {"slug": "mentions", "label": "Mentions"},
    {"slug": "security", "label": "Security", "locked": True},
]
SKIPPED = "Turned off in the recipient's preferences"


class PrefRecorderProvider(Provider):
    """Keeps every payload it is given."""

    name = "test-pref-recorder"
    sent: list[dict[str, Any]] = []

    def build_payload(self, notification: Notification, context: Any) -> dict[str, Any]:
        return {"to": str(notification.recipient_id), "message": notification.message, "category": notification.category}

    def send(self, payload: Any) -> str | None:
        PrefRecorderProvider.sent.append(payload)
        return None


class PrefChannel(Channel):
    """A site's own channel: people choose for it like for e-mail."""

    name = "test-pref"
    providers = ["test-pref-recorder"]


class PrefAlwaysChannel(Channel):
    """A site's own channel outside preferences, like the console."""

    name = "test-pref-always"
    providers = ["test-pref-recorder"]
    in_preferences = False


@pytest.fixture(autouse=True)
def site(settings: Any) -> Iterator[None]:
    settings.INBOX = {**SITE, "CATEGORIES": CATEGORIES, "PROVIDERS": {"email": {}}}
    PrefRecorderProvider.sent = []
    yield


def statuses(**filters: Any) -> list[tuple[str, str, str, str]]:
    """(recipient id, channel, status, last_error) of each delivery, sorted."""
    return sorted(Delivery.objects.filter(**filters).values_list("recipient_id", "channel", "status", "last_error"))


def delivered_to() -> list[str]:
    return sorted(payload["to"] for payload in PrefRecorderProvider.sent)


# -- The service --------------------------------------------------------------------------------


def test_everything_is_on_by_default_and_nothing_is_stored(alice: User) -> None:
    for category in ("comments", "mentions", "undeclared", ""):
        for channel in ("email", "test-pref"):
            assert preferences.is_enabled(alice, category, channel)
    assert not Preference.objects.exists()


def test_a_cell_turns_off_and_on_again(alice: User, bob: User) -> None:
    preferences.set_preference(alice, "comments", "email", False)
    assert not preferences.is_enabled(alice, "comments", "email")
    assert preferences.is_enabled(alice, "comments", "test-pref")
    assert preferences.is_enabled(alice, "mentions", "email")
    assert preferences.is_enabled(bob, "comments", "email")  # someone else's choice

    preferences.set_preference(alice, "comments", "email", True)
    preferences.set_preference(alice, "comments", "email", True)  # an upsert: still one row
    assert preferences.is_enabled(alice, "comments", "email")
    assert list(Preference.objects.values_list("category", "channel", "enabled")) == [("comments", "email", True)]


def test_channel_none_sets_every_channel_and_replaces_the_per_channel_choices(alice: User) -> None:
    preferences.set_preference(alice, "comments", "email", True)
    preferences.set_preference(alice, "comments", "test-pref", True)
    preferences.set_preference(alice, "comments", None, False)
    assert not preferences.is_enabled(alice, "comments", "email")
    assert not preferences.is_enabled(alice, "comments", "test-pref")
    assert list(Preference.objects.values_list("category", "channel", "enabled")) == [("comments", "", False)]

    # A cell's own choice beats the category's.
    preferences.set_preference(alice, "comments", "email", True)
    assert preferences.is_enabled(alice, "comments", "email")
    assert not preferences.is_enabled(alice, "comments", "test-pref")


def test_the_master_switch_beats_every_cell_of_its_channel(alice: User) -> None:
    preferences.set_preference(alice, "comments", "email", True)
    preferences.set_preference(alice, "", "email", False)
    assert not preferences.is_enabled(alice, "comments", "email")
    assert not preferences.is_enabled(alice, "mentions", "email")
    assert not preferences.is_enabled(alice, "", "email")  # a notification without a category
    assert preferences.is_enabled(alice, "comments", "test-pref")
    assert preferences.is_enabled(alice, "security", "email")  # locked: always on

    preferences.set_preference(alice, "", "email", True)
    assert preferences.is_enabled(alice, "comments", "email")


def test_a_locked_category_cannot_be_turned_off(alice: User) -> None:
    with pytest.raises(PreferenceError, match="Security notifications cannot be turned off"):
        preferences.set_preference(alice, "security", "email", False)
    with pytest.raises(PreferenceError):
        preferences.set_preference(alice, "security", None, False)
    preferences.set_preference(alice, "security", "email", True)  # on is what it is anyway
    assert not Preference.objects.exists()
    assert issubclass(PreferenceError, NotificationError)


@pytest.mark.parametrize(
    "category, channel, enabled, error",
    [
        ("comments", "nope", False, "Unknown channel 'nope'"),
        ("comments", "console", False, "always receives everything"),
        ("comments", "test-pref-always", False, "always receives everything"),
        ("comments", 3, False, "Unknown channel"),
        ("not a slug", "email", False, "category must be a slug"),
        ("comments\n", "email", False, "category must be a slug"),
        ("x" * 65, "email", False, "category must be a slug"),
        ("", None, False, "category must be a slug"),  # a master switch needs a channel
        (None, "email", False, "category must be a slug"),
        ("comments", "email", "no", "enabled must be True or False"),
        ("comments", "email", 0, "enabled must be True or False"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(alice: User, category: Any, channel: Any, enabled: Any,
                                                    error: str) -> None:
    with pytest.raises(PreferenceError, match=error):
        preferences.set_preference(alice, category, channel, enabled)
    assert not Preference.objects.exists()


def test_is_enabled_costs_one_query_and_none_when_nothing_can_change_it(
    alice: User, warm_content_types: None, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        assert preferences.is_enabled(alice, "comments", "email")
    with django_assert_num_queries(0):
        assert preferences.is_enabled(alice, "security", "email")
        assert preferences.is_enabled(alice, "comments", "console")


def test_schedules_are_stored_upserted_and_keep_what_is_not_given(alice: User) -> None:
    first = preferences.set_schedule(alice, "email", Frequency.DAILY, time=datetime.time(8, 30),
                                     time_zone="Europe/Paris")
    assert (first.frequency, first.time, first.weekday, first.time_zone) == ("daily", datetime.time(8, 30), 0,
                                                                             "Europe/Paris")
    second = preferences.set_schedule(alice, "email", "weekly", weekday=4)
    assert (second.frequency, second.time, second.weekday, second.time_zone) == ("weekly", datetime.time(8, 30), 4,
                                                                                 "Europe/Paris")
    assert second.pk == first.pk and DigestSchedule.objects.count() == 1
    assert preferences.set_schedule(alice, "email", "hourly", time="07:15").time == datetime.time(7, 15)


@pytest.mark.parametrize(
    "channel, frequency, options, error",
    [
        ("email", "monthly", {}, "frequency must be one of"),
        ("console", "daily", {}, "always receives everything"),
        ("nope", "daily", {}, "Unknown channel"),
        ("email", "daily", {"weekday": 7}, "weekday must be"),
        ("email", "daily", {"weekday": -1}, "weekday must be"),
        ("email", "daily", {"weekday": True}, "weekday must be"),
        ("email", "daily", {"time_zone": "Mars/Olympus"}, "time_zone must be"),
        ("email", "daily", {"time_zone": "../../etc/passwd"}, "time_zone must be"),
        ("email", "daily", {"time_zone": "Europe/Paris\0"}, "time_zone must be"),
        ("email", "daily", {"time": "25:00"}, "time must be"),
        ("email", "daily", {"time": "soon"}, "time must be"),
        ("email", "daily", {"time": 9}, "time must be"),
    ],
)
def test_bad_schedules_are_refused_and_nothing_is_stored(alice: User, channel: str, frequency: str,
                                                         options: dict[str, Any], error: str) -> None:
    with pytest.raises(PreferenceError, match=error):
        preferences.set_schedule(alice, channel, frequency, **options)
    assert not DigestSchedule.objects.exists()


def test_the_grid_shows_choices_locks_and_schedules_in_two_queries(
    alice: User, warm_content_types: None, django_assert_num_queries: Any
) -> None:
    preferences.set_preference(alice, "comments", None, False)
    preferences.set_preference(alice, "comments", "test-pref", True)
    preferences.set_preference(alice, "", "email", False)
    preferences.set_schedule(alice, "test-pref", Frequency.HOURLY)

    with django_assert_num_queries(2):
        grid = preferences.grid(alice)

    names = [name for name, _label in grid.channels]
    assert names[0] == "email" and "test-pref" in names
    assert "console" not in names and "test-pref-always" not in names
    assert "slack" not in names and "webhook" not in names  # not configured on this site
    assert dict(grid.channels)["email"] == "E-mail"
    assert grid.masters["email"] is False and grid.masters["test-pref"] is True
    rows = {category.slug: {cell.channel: cell for cell in cells} for category, cells in grid.rows}
    assert list(rows) == ["comments", "mentions", "security"]
    assert rows["comments"]["email"] == preferences.Cell("email", enabled=False, locked=False, explicit=True)
    assert rows["comments"]["test-pref"] == preferences.Cell("test-pref", enabled=True, locked=False, explicit=True)
    assert rows["mentions"]["email"] == preferences.Cell("email", enabled=True, locked=False, explicit=False)
    assert rows["security"]["email"] == preferences.Cell("email", enabled=True, locked=True, explicit=False)
    assert grid.schedules["test-pref"].frequency == "hourly" and grid.schedules["test-pref"].pk is not None
    assert grid.schedules["email"].frequency == "immediately" and grid.schedules["email"].pk is None


def test_a_preferences_channel_is_every_registered_one_but_the_console(settings: Any) -> None:
    settings.INBOX = {**SITE, "PROVIDERS": {"email": {}, "slack": {"WEBHOOK_URL": "https://hooks.example.com/x"}}}
    names = [channel.name for channel in preferences.preferences_channels()]
    assert names[:2] == ["email", "slack"] and "test-pref" in names
    assert "console" not in names and "webhook" not in names
    assert Channel.registry["console"].in_preferences is False


# -- At send time -------------------------------------------------------------------------------


def test_turned_off_deliveries_are_recorded_as_skipped_and_never_sent(
    alice: User, bob: User, carol: User, django_capture_on_commit_callbacks: Any
) -> None:
    preferences.set_preference(alice, "comments", "test-pref", False)
    preferences.set_preference(bob, "", "test-pref", False)
    with django_capture_on_commit_callbacks(execute=True):
        sent = notifier.send("New comment", [alice, bob, carol], category="comments",
                             channels=("test-pref", "test-pref-always"))
    assert len(sent) == 3  # the inbox always receives
    assert statuses(channel="test-pref") == sorted([
        (str(alice.pk), "test-pref", "skipped", SKIPPED),
        (str(bob.pk), "test-pref", "skipped", SKIPPED),
        (str(carol.pk), "test-pref", "sent", ""),
    ])
    # A channel outside preferences gets everything.
    assert [status for *_r, status, _e in statuses(channel="test-pref-always")] == ["sent"] * 3
    assert delivered_to() == sorted([str(carol.pk), str(alice.pk), str(bob.pk), str(carol.pk)])
    skipped = Delivery.objects.filter(status="skipped")
    assert all(row.attempts == 0 and row.sent_at is None for row in skipped)


def test_a_delivery_turned_off_after_the_send_is_skipped_when_it_would_go(alice: User, bob: User) -> None:
    """send() decides, but a countdown, a retry or the admin's "Retry" comes later: the worker asks
    again, so nobody is sent what they turned off in between."""
    from inbox.channels import deliveries, tasks

    sent = notifier.send("New comment", [alice, bob], category="comments", channels=("test-pref",))
    assert sent  # nothing committed: no task ran yet
    preferences.set_preference(alice, "comments", "test-pref", False)
    tasks.run(None)
    assert statuses(channel="test-pref") == sorted([
        (str(alice.pk), "test-pref", "skipped", SKIPPED),
        (str(bob.pk), "test-pref", "sent", ""),
    ])
    # "Retry the selected deliveries" gives a skipped one another go: still skipped, never sent.
    deliveries.retry(Delivery.objects.filter(recipient_id=str(alice.pk)))
    tasks.run(None)
    assert statuses(channel="test-pref")[0][2] == "skipped" and delivered_to() == [str(bob.pk)]


def test_the_admin_retry_leaves_digest_deliveries_waiting(alice: User) -> None:
    from inbox.channels import deliveries

    preferences.set_schedule(alice, "test-pref", Frequency.DAILY)
    notifier.send("New comment", alice, category="comments", channels=("test-pref",))
    assert deliveries.retry(Delivery.objects.all()) == 0
    assert list(Delivery.objects.values_list("status", flat=True)) == ["digest"]


def test_another_category_is_not_affected(alice: User, django_capture_on_commit_callbacks: Any) -> None:
    preferences.set_preference(alice, "comments", "test-pref", False)
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Mentioned", alice, category="mentions", channels=("test-pref",))
    assert statuses() == [(str(alice.pk), "test-pref", "sent", "")]


def test_a_locked_category_goes_even_when_everything_is_off(alice: User,
                                                            django_capture_on_commit_callbacks: Any) -> None:
    preferences.set_preference(alice, "", "test-pref", False)
    preferences.set_schedule(alice, "test-pref", Frequency.DAILY)
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("New sign-in", alice, category="security", channels=("test-pref",))
        notifier.send("Chatter", alice, category="comments", channels=("test-pref",))
    assert [payload["message"] for payload in PrefRecorderProvider.sent] == ["New sign-in"]  # and at once
    assert Delivery.objects.get(notification__category="security").status == "sent"
    assert Delivery.objects.get(notification__category="comments").status == "skipped"


def test_a_digest_schedule_makes_deliveries_wait_for_the_window(
    alice: User, bob: User, django_capture_on_commit_callbacks: Any
) -> None:
    preferences.set_schedule(alice, "test-pref", Frequency.DAILY, time=datetime.time(8), time_zone="Europe/Paris")
    preferences.set_schedule(bob, "test-pref", Frequency.IMMEDIATELY)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Deployed", [alice, bob], category="deploys", channels=("test-pref",))
    assert delivered_to() == [str(bob.pk)]
    waiting = Delivery.objects.get(recipient_id=str(alice.pk))
    assert waiting.status == Delivery.Status.DIGEST
    assert waiting.due_at > before and waiting.last_error == "" and waiting.attempts == 0
    # Its batch is never given to a task: the digest sender takes it.
    assert not Delivery.objects.filter(batch=waiting.batch, status="pending").exists()


def test_one_insert_writes_pending_skipped_and_digest_rows(alice: User, bob: User, carol: User) -> None:
    preferences.set_preference(alice, "comments", "test-pref", False)
    preferences.set_schedule(bob, "test-pref", Frequency.HOURLY)
    with CaptureQueriesContext(connection) as queries:
        notifier.send("Mixed", [alice, bob, carol], category="comments", channels=("test-pref",))
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT") and "inbox_delivery" in q["sql"]]
    assert len(inserts) == 1
    assert [status for _r, _c, status, _e in statuses()] == ["skipped", "digest", "pending"]
    assert {(r.recipient_id, r.status) for r in Delivery.objects.all()} == {
        (str(alice.pk), "skipped"), (str(bob.pk), "digest"), (str(carol.pk), "pending")
    }


def test_silent_sends_follow_the_same_choices(alice: User, bob: User, carol: User,
                                              django_capture_on_commit_callbacks: Any) -> None:
    preferences.set_preference(alice, "comments", None, False)
    preferences.set_schedule(bob, "test-pref", Frequency.WEEKLY, weekday=2)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Psst", [alice, bob, carol], category="comments", channels=("test-pref",), silent=True)
    assert not Notification.objects.exists()
    rows = {row.recipient_id: row for row in Delivery.objects.all()}
    assert (rows[str(alice.pk)].status, rows[str(alice.pk)].last_error) == ("skipped", SKIPPED)
    assert rows[str(bob.pk)].status == "digest" and rows[str(bob.pk)].due_at > before
    assert rows[str(carol.pk)].status == "sent"
    assert delivered_to() == [str(carol.pk)]


def test_a_preparation_pipeline_s_notifications_are_decided_by_their_own_category(
    alice: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.INBOX = {**settings.INBOX, "PREPARATION_PIPELINE": ["tests.test_preferences.recategorise"]}
    preferences.set_preference(alice, "mentions", "test-pref", False)
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("@alice look", alice, category="comments", channels=("test-pref",))
    assert Notification.objects.get().category == "mentions"
    assert statuses() == [(str(alice.pk), "test-pref", "skipped", SKIPPED)]


def recategorise(notifications: Sequence[Notification]) -> Sequence[Notification]:
    """A preparation step: a message that mentions someone is a mention."""
    for notification in notifications:
        if "@" in notification.message:
            notification.category = "mentions"
    return notifications


def test_send_reads_everyone_s_choices_in_the_same_queries_for_10_or_200_recipients(
    settings: Any, warm_content_types: None
) -> None:
    settings.INBOX = {**settings.INBOX, "DELIVERY_BATCH_SIZE": 1000}
    users = User.objects.bulk_create([User(username=f"p{i}") for i in range(200)])
    users = list(User.objects.filter(username__startswith="p").order_by("pk"))
    for user in users[::3]:
        preferences.set_preference(user, "comments", "test-pref", False)
    for user in users[1::3]:
        preferences.set_schedule(user, "test-pref", Frequency.DAILY, time_zone="America/New_York")
    for user in users[2::7]:
        preferences.set_preference(user, "", "email", False)

    def send(recipients: list[User], message: str = "Hi all") -> int:
        with CaptureQueriesContext(connection) as queries:
            notifier.send("Hi {recipient}", recipients, category="comments", channels=("test-pref", "email"))
            notifier.send(message, User.objects.filter(pk__in=[u.pk for u in recipients]), category="comments",
                          channels=("test-pref", "email"))
        return len(queries)

    send(users[:10], "warm")
    assert send(users[:10], "ten") == send(users)
    # A silent send's rows go through bulk_create, which SQLite splits by its parameter limit; its
    # choices are still read in one query each.
    with CaptureQueriesContext(connection) as queries:
        notifier.send("Psst", users, category="comments", channels=("test-pref", "email"), silent=True)
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(reads) == 2 and "inbox_preference" in reads[0] and "inbox_digestschedule" in reads[1]
    rows = Delivery.objects.filter(channel="test-pref", notification__message="Hi all")
    assert rows.filter(status="skipped").count() == 67
    assert rows.filter(status="digest").count() == 67
    assert rows.filter(status="pending").count() == 66


def test_no_query_is_spent_on_choices_when_no_channel_has_them(
    alice: User, warm_content_types: None
) -> None:
    notifier.send("warm", alice, channels=("test-pref-always",))
    with CaptureQueriesContext(connection) as queries:
        notifier.send("Only the console kind", alice, channels=("test-pref-always",))
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "inbox_preference" not in tables and "inbox_digestschedule" not in tables


def test_a_locked_category_reads_no_schedules(alice: User, warm_content_types: None) -> None:
    notifier.send("warm", alice, category="security", channels=("test-pref",))
    with CaptureQueriesContext(connection) as queries:
        notifier.send("Sign-in", alice, category="security", channels=("test-pref",))
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "inbox_digestschedule" not in tables


# -- Every built-in channel honours them, against real servers ----------------------------------


def with_address(user: User) -> User:
    user.email = f"{user.username}@example.org"
    user.save(update_fields=["email"])
    return user


def test_email_honours_preferences(email_settings: Any, settings: Any, alice: User, bob: User, carol: User,
                                   django_capture_on_commit_callbacks: Any) -> None:
    settings.INBOX = {**settings.INBOX, "CATEGORIES": CATEGORIES}
    users = [with_address(user) for user in (alice, bob, carol)]
    preferences.set_preference(alice, "comments", "email", False)
    preferences.set_schedule(bob, "email", Frequency.HOURLY)
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("New comment", users, category="comments", channels=("email",))
    assert [mail.rcpt_tos for mail in email_settings.messages] == [["carol@example.org"]]
    assert statuses() == sorted([
        (str(alice.pk), "email", "skipped", SKIPPED),
        (str(bob.pk), "email", "digest", ""),
        (str(carol.pk), "email", "sent", ""),
    ])


@pytest.fixture
def hooks(settings: Any, http_sinks: Any) -> tuple[HttpSink, HttpSink]:
    webhook, slack = http_sinks(), http_sinks()
    settings.INBOX = {
        **SITE, "CATEGORIES": CATEGORIES,
        "PROVIDERS": {"webhook": {"URL": f"{webhook.url}/hook", "SECRET": "s3cret", "TIMEOUT": 2},
                      "slack": {"WEBHOOK_URL": f"{slack.url}/services/T/B/X", "TIMEOUT": 2}},
    }
    return webhook, slack


def test_webhook_and_slack_honour_preferences(hooks: tuple[HttpSink, HttpSink], alice: User, bob: User,
                                              django_capture_on_commit_callbacks: Any) -> None:
    webhook, slack = hooks
    preferences.set_preference(alice, "comments", "webhook", False)
    preferences.set_preference(bob, "", "slack", False)
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("New comment", [alice, bob], category="comments", channels=("webhook", "slack"))
    assert [request.json()["recipient"]["id"] for request in webhook.requests] == [str(bob.pk)]
    assert len(slack.requests) == 1  # alice's; bob turned Slack off
    assert statuses() == sorted([
        (str(alice.pk), "slack", "sent", ""),
        (str(alice.pk), "webhook", "skipped", SKIPPED),
        (str(bob.pk), "slack", "skipped", SKIPPED),
        (str(bob.pk), "webhook", "sent", ""),
    ])


# -- Settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -5, "60", 1.5, True, None])
def test_check_refuses_a_bad_unsubscribe_max_age(settings: Any, value: Any) -> None:
    settings.INBOX = {"UNSUBSCRIBE_MAX_AGE": value}
    assert [problem.id for problem in checks.check_settings()] == ["inbox.E008"]


def test_check_accepts_the_default_and_a_positive_max_age(settings: Any) -> None:
    settings.INBOX = {"UNSUBSCRIBE_MAX_AGE": 3600}
    assert checks.check_settings() == []
    settings.INBOX = {}
    assert checks.check_settings() == []
