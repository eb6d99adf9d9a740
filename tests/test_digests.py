"""Digests: what collected in a recipient's window goes out as one message, once, through a real SMTP server."""

from __future__ import annotations

import datetime as dt
import uuid
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inbox import unsubscribe
from inbox.channels import digest_tasks, digests, windows
from inbox.models import Delivery, Digest, Notification
from inbox.recipients import key_of
from inbox.services import notifier, preferences
from tests.services import free_port
from tests.sinks import SmtpSink, email_settings_fixture, http_sink_fixture, http_sinks_fixture, smtp_sink_fixture  # noqa: F401
from tests.test_concurrency import run_together

UTC = dt.timezone.utc
#: The end of the window the tests' deliveries wait for.
WINDOW = dt.datetime(2025, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 in Paris, the day clocks change
AFTER = WINDOW + dt.timedelta(minutes=1)

CATEGORIES = [
    {"slug": "deploys", "label": "Deploys", "order": 20},
    {"slug": "comments", "label": "Comments", "order": 10},
    {"slug": "security", "label": "Security", "order": 5, "locked": True},
]


@pytest.fixture
def digest_settings(settings: Any, email_settings: SmtpSink) -> SmtpSink:
    settings.INBOX = {**settings.INBOX, "CATEGORIES": CATEGORIES}
    return email_settings


def with_address(user: User) -> User:
    user.email = f"{user.username}@example.org"
    user.save(update_fields=["email"])
    return user


def park(notifications: list[Notification], *, due_at: dt.datetime = WINDOW, channel: str = "email",
         provider: str = "email") -> list[Delivery]:
    """Deliveries waiting for a digest, as send() writes them for a recipient with a schedule."""
    batch = uuid.uuid4()
    return Delivery.objects.bulk_create([
        Delivery(notification=n, recipient_type_id=n.recipient_type_id, recipient_id=n.recipient_id, channel=channel,
                 provider=provider, status=Delivery.Status.DIGEST, due_at=due_at, batch=batch)
        for n in notifications
    ])


def send(message: str, recipients: Any, **kwargs: Any) -> list[Notification]:
    return list(notifier.send(message, recipients, now=WINDOW - dt.timedelta(hours=3), **kwargs))


def body(message: Any, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None, kind
    return str(part.get_content())


def statuses() -> list[str]:
    return sorted(Delivery.objects.values_list("status", flat=True))


@pytest.mark.django_db
def test_one_email_lists_the_window_grouped_by_category(digest_settings: SmtpSink, alice: User) -> None:
    with_address(alice)
    sent = (
        send("Bob deployed <b>Apollo</b>", alice, category="deploys", url="/deploys/1/")
        + send("Carol commented on Apollo", alice, category="comments", url="/c/1/")
        + send("Dan commented on Gemini", alice, category="comments")
        + send("Welcome aboard", alice)
    )
    deliveries = park(sent)

    assert digests.send_due_digests(AFTER) == 1

    [received] = digest_settings.messages
    assert received.rcpt_tos == ["alice@example.org"]
    message = received.message
    assert message["Subject"] == "4 new notifications"
    text = body(message, "plain")
    # Sections in the registry's order (comments before deploys), those without a category last.
    assert text.index("Comments") < text.index("Carol commented") < text.index("Deploys") < text.index("Bob deployed")
    assert text.index("Bob deployed") < text.index("Other") < text.index("Welcome aboard")
    assert "Bob deployed <b>Apollo</b>" in text  # plain text is not HTML-escaped
    assert "https://example.com/deploys/1/" in text
    html = body(message, "html")
    assert "Bob deployed &lt;b&gt;Apollo&lt;/b&gt;" in html and "<b>Apollo" not in html
    assert 'href="https://example.com/c/1/"' in html
    assert "Manage your notification settings" in html
    assert f'href="https://example.com{reverse("inbox:preferences")}"' in html

    # RFC 8058 one-click unsubscribe from the whole channel, the same link as in the body.
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(message["List-Unsubscribe"]).strip()  # a long header may be folded onto a new line
    link = header[1:-1]
    assert header == f"<{link}>"
    assert link.startswith("https://example.com/inbox/unsubscribe/")
    assert link in text and f'href="{link}"' in html
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert unsubscribe.read_token(token) == unsubscribe.Unsubscription(*key_of(alice), "", "email")

    digest = Digest.objects.get()
    assert (digest.status, digest.size, digest.window_end, digest.channel, digest.provider) == (
        Digest.Status.SENT, 4, WINDOW, "email", "email")
    assert digest.provider_message_id == message["Message-ID"]
    assert digest.sent_at == AFTER
    for delivery in Delivery.objects.filter(pk__in=[d.pk for d in deliveries]):
        assert (delivery.status, delivery.attempts, delivery.sent_at) == (Delivery.Status.SENT, 1, AFTER)
        assert delivery.provider_message_id == message["Message-ID"]
        assert delivery.claim is None


@pytest.mark.django_db
def test_times_read_in_the_recipients_zone_and_the_subject_names_the_frequency(digest_settings: SmtpSink,
                                                                              alice: User) -> None:
    with_address(alice)
    preferences.set_schedule(alice, "email", "daily", time=dt.time(9, 0), time_zone="Asia/Tokyo")
    park(list(notifier.send("Hello", alice, now=dt.datetime(2025, 3, 30, 1, 0, tzinfo=UTC))))
    assert digests.send_due_digests(AFTER) == 1
    message = digest_settings.messages[0].message
    assert message["Subject"] == "Daily digest: 1 new notification"
    assert "10 a.m." in body(message, "plain")  # 01:00 UTC is 10:00 in Tokyo


@pytest.mark.django_db
def test_twice_in_a_row_sends_once(digest_settings: SmtpSink, alice: User, bob: User) -> None:
    for user in (alice, bob):
        with_address(user)
    park(send("one", [alice, bob]) + send("two", [alice, bob]))
    assert digests.send_due_digests(AFTER) == 2
    assert digests.send_due_digests(AFTER) == 0
    assert digests.send_due_digests(AFTER + dt.timedelta(days=1)) == 0
    assert sorted(r for m in digest_settings.messages for r in m.rcpt_tos) == ["alice@example.org", "bob@example.org"]
    assert digest_settings.connections == 1  # the batch shares one SMTP connection
    assert statuses() == ["sent"] * 4
    assert Digest.objects.filter(status=Digest.Status.SENT, size=2).count() == 2


@pytest.mark.django_db
def test_windows_not_yet_ended_are_left_alone(digest_settings: SmtpSink, alice: User) -> None:
    with_address(alice)
    park(send("later", alice), due_at=AFTER + dt.timedelta(seconds=1))
    assert digests.send_due_digests(AFTER) == 0
    assert digest_settings.messages == []
    assert statuses() == ["digest"]
    assert not Digest.objects.exists()
    assert digests.send_due_digests(AFTER + dt.timedelta(seconds=1)) == 1


@pytest.mark.django_db
def test_a_category_turned_off_since_is_skipped(digest_settings: SmtpSink, alice: User) -> None:
    with_address(alice)
    comments = park(send("Carol commented", alice, category="comments"))
    deploys = park(send("Bob deployed", alice, category="deploys"))
    preferences.set_preference(alice, "comments", "email", False)

    assert digests.send_due_digests(AFTER) == 1

    text = body(digest_settings.messages[0].message, "plain")
    assert "Bob deployed" in text and "Carol commented" not in text
    skipped = Delivery.objects.get(pk=comments[0].pk)
    assert skipped.status == Delivery.Status.SKIPPED
    assert skipped.last_error == preferences.skipped_reason()
    assert Delivery.objects.get(pk=deploys[0].pk).status == Delivery.Status.SENT
    assert Digest.objects.get().size == 1


@pytest.mark.django_db
def test_channel_turned_off_sends_nothing_and_keeps_no_digest_row(digest_settings: SmtpSink, alice: User) -> None:
    with_address(alice)
    park(send("Carol commented", alice, category="comments") + send("Password changed", alice, category="security"))
    preferences.set_preference(alice, "", "email", False)
    preferences.set_preference(alice, "comments", None, False)

    assert digests.send_due_digests(AFTER) == 1
    # A locked category cannot be turned off: it still goes.
    text = body(digest_settings.messages[0].message, "plain")
    assert "Password changed" in text and "Carol commented" not in text

    park(send("Dan commented", alice, category="comments"), due_at=AFTER)
    assert digests.send_due_digests(AFTER) == 0
    assert len(digest_settings.messages) == 1
    assert Digest.objects.count() == 1  # nothing went out for the second window: no row


@pytest.mark.django_db
def test_a_window_another_runner_holds_is_left_to_it_until_its_lease_ends(digest_settings: SmtpSink, alice: User) -> None:
    with_address(alice)
    park(send("hello", alice))
    type_id, object_id = key_of(alice)
    held = Digest.objects.create(recipient_type_id=type_id, recipient_id=object_id, channel="email", provider="email",
                                 window_end=WINDOW, claim=uuid.uuid4(), created_at=AFTER)
    assert digests.send_due_digests(AFTER) == 0
    assert digest_settings.messages == [] and statuses() == ["digest"]

    # That runner died: once DELIVERY_LEASE (600 s) has passed, the window is taken over.
    assert digests.send_due_digests(AFTER + dt.timedelta(seconds=599)) == 0
    assert digests.send_due_digests(AFTER + dt.timedelta(seconds=601)) == 1
    held.refresh_from_db()
    assert (held.status, held.size) == (Digest.Status.SENT, 1)
    assert held.provider_message_id == digest_settings.messages[0].message["Message-ID"]
    assert statuses() == ["sent"]


@pytest.mark.django_db
def test_recipient_without_address_is_skipped(digest_settings: SmtpSink, alice: User) -> None:
    park(send("Hello", alice))
    assert digests.send_due_digests(AFTER) == 0
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == (Delivery.Status.SKIPPED, "the recipient has no e-mail address")
    assert not Digest.objects.exists()


@pytest.mark.django_db
def test_late_arrivals_move_to_the_next_window(digest_settings: SmtpSink, alice: User) -> None:
    with_address(alice)
    preferences.set_schedule(alice, "email", "daily", time=dt.time(9, 0), time_zone="Europe/Paris")
    park(send("on time", alice))
    assert digests.send_due_digests(AFTER) == 1

    # A delivery whose transaction committed after its window's digest went out.
    [late] = park(send("late", alice))
    assert digests.send_due_digests(AFTER) == 0
    late.refresh_from_db()
    next_window = dt.datetime(2025, 3, 31, 7, 0, tzinfo=UTC)  # 09:00 in Paris the next day
    assert (late.status, late.due_at) == (Delivery.Status.DIGEST, next_window)
    assert len(digest_settings.messages) == 1

    assert digests.send_due_digests(next_window) == 1
    assert "late" in body(digest_settings.messages[1].message, "plain")
    assert list(Digest.objects.order_by("window_end").values_list("window_end", "size")) == [(WINDOW, 1), (next_window, 1)]


@pytest.mark.django_db
def test_late_arrivals_without_a_schedule_wait_for_the_next_hour(digest_settings: SmtpSink, alice: User) -> None:
    with_address(alice)
    park(send("on time", alice))
    assert digests.send_due_digests(AFTER) == 1
    [late] = park(send("late", alice))
    assert digests.send_due_digests(AFTER) == 0
    late.refresh_from_db()
    assert late.due_at == windows.window_end("hourly", now=AFTER) == WINDOW + dt.timedelta(hours=1)


@pytest.mark.django_db
def test_mail_server_down_retries_as_a_new_digest(settings: Any, alice: User) -> None:
    from tests.sinks import use_smtp

    port = free_port()  # nothing listens there yet
    use_smtp(settings, port)
    with_address(alice)
    park(send("one", alice) + send("two", alice))

    assert digests.send_due_digests(AFTER) == 0
    failed = Digest.objects.get()
    assert failed.status == Digest.Status.FAILED and "refused" in failed.last_error.lower()
    retry_at = AFTER + dt.timedelta(seconds=30)
    for delivery in Delivery.objects.all():
        assert (delivery.status, delivery.attempts, delivery.due_at) == (Delivery.Status.DIGEST, 1, retry_at)
        assert delivery.last_error and delivery.claim is None
    assert digests.send_due_digests(retry_at - dt.timedelta(seconds=1)) == 0  # not before the backoff

    with SmtpSink(port) as sink:
        assert digests.send_due_digests(retry_at) == 1
    assert len(sink.messages) == 1
    assert statuses() == ["sent", "sent"]
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {2}
    assert list(Digest.objects.order_by("window_end").values_list("status", "window_end")) == [
        ("failed", WINDOW), ("sent", retry_at)]


@pytest.mark.django_db
def test_other_providers_get_one_summary_through_their_channel(settings: Any, http_sink: Any, alice: User) -> None:
    settings.INBOX = {"SITE_URL": "https://example.com", "PROVIDERS": {"slack": {"WEBHOOK_URL": http_sink.url + "/hook"}}}
    park(send("Bob deployed [[x]]", alice) + send("Carol commented", alice), channel="slack", provider="slack")

    assert digests.send_due_digests(AFTER) == 1

    [request] = http_sink.requests
    text = request.json()["text"]
    assert text.startswith("2 notifications: ")
    assert "Bob deployed [x]" in text and "Carol commented" in text
    assert request.json()["blocks"][1]["elements"][0]["url"] == "https://example.com" + reverse("inbox:list")
    assert statuses() == ["sent", "sent"]


@pytest.mark.django_db
def test_queries_per_batch_do_not_grow_with_deliveries(settings: Any, warm_content_types: None) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.INBOX = {"SITE_URL": "https://example.com", "CATEGORIES": CATEGORIES}

    def run(recipients: int, each: int, start: dt.datetime) -> int:
        users = [User.objects.create(username=f"u{start.day}-{i}", email=f"u{i}@example.org") for i in range(recipients)]
        for i in range(each):
            park(send(f"n{i}", users, category=["comments", "deploys", ""][i % 3]), due_at=start)
        with CaptureQueriesContext(connection) as queries:
            assert digests.send_due_digests(start + dt.timedelta(minutes=1)) == recipients
        return len(queries)

    # The same windows with 2 or 30 deliveries each: the same queries.
    few = run(3, 2, WINDOW)
    many = run(3, 30, WINDOW + dt.timedelta(days=1))
    assert few == many
    # Each further window of a batch costs one UPDATE (its deliveries' message id), bounded by
    # WINDOWS_PER_BATCH; everything else is per batch (two of them: claims checked and renewed
    # just before sending).
    one = run(1, 30, WINDOW + dt.timedelta(days=2))
    assert one == 13
    assert few == one + 2
    assert len(mail.outbox) == 7


@pytest.mark.django_db
def test_batches_and_limit(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.INBOX = {"SITE_URL": "https://example.com"}
    monkeypatch.setattr(digests, "WINDOWS_PER_BATCH", 2)
    users = [User.objects.create(username=f"u{i}", email=f"u{i}@example.org") for i in range(5)]
    park(send("hello", users))
    assert digests.send_due_digests(AFTER, limit=3) == 3
    assert digests.send_due_digests(AFTER) == 2
    assert len(mail.outbox) == 5


@pytest.mark.django_db
def test_command(digest_settings: SmtpSink, alice: User) -> None:
    with_address(alice)
    park(send("hello", alice))
    out = StringIO()
    call_command("inbox_send_digests", "--now", WINDOW.isoformat(), stdout=out)
    assert out.getvalue() == "Sent 1 digest(s).\n"
    out = StringIO()
    call_command("inbox_send_digests", "--now", WINDOW.isoformat(), stdout=out)
    assert out.getvalue() == "Sent 0 digest(s).\n"
    for bad in ("yesterday", "2025-03-30T09:00", "2025-13-45T09:00Z"):
        with pytest.raises(CommandError):
            call_command("inbox_send_digests", "--now", bad)
    assert len(digest_settings.messages) == 1


@pytest.mark.django_db
def test_task(digest_settings: SmtpSink, alice: User) -> None:
    with_address(alice)
    park(send("hello", alice))
    assert digest_tasks.send_digests.call(AFTER.isoformat()) == 1
    assert digest_tasks.send_digests.call(AFTER.isoformat()) == 0
    with pytest.raises(ValueError):
        digest_tasks.send_digests.call("2025-03-30T09:00")  # no offset
    result = digest_tasks.enqueue()  # the immediate backend runs it here, at the real time
    assert result.return_value == 0


@pytest.mark.django_db
def test_through_send_with_a_digest_schedule(digest_settings: SmtpSink, alice: User,
                                             django_capture_on_commit_callbacks: Any) -> None:
    with_address(alice)
    preferences.set_schedule(alice, "email", "daily", time=dt.time(9, 0), time_zone="Europe/Paris")
    with django_capture_on_commit_callbacks(execute=True):
        notifier.send("Carol commented", alice, category="comments", channels=["email"],
                      now=WINDOW - dt.timedelta(hours=2))
        notifier.send("Bob deployed", alice, category="deploys", channels=["email"],
                      now=WINDOW - dt.timedelta(hours=1))
    assert digest_settings.messages == []  # waiting for the window, not sent at once
    assert set(Delivery.objects.values_list("status", "due_at")) == {(Delivery.Status.DIGEST, WINDOW)}

    assert digests.send_due_digests(AFTER) == 1
    text = body(digest_settings.messages[0].message, "plain")
    assert "Carol commented" in text and "Bob deployed" in text
    assert statuses() == ["sent", "sent"]


def _concurrent(users: int = 12, runners: int = 4) -> None:
    sink = SmtpSink().start()
    try:
        from django.conf import settings as django_settings
        from django.test import override_settings

        inbox = {"SITE_URL": "https://example.com", "PROVIDERS": {"email": {}}, "CATEGORIES": CATEGORIES}
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                               EMAIL_PORT=sink.port, EMAIL_USE_TLS=False, EMAIL_USE_SSL=False, EMAIL_TIMEOUT=5,
                               INBOX={**django_settings.INBOX, **inbox}):
            people = [User.objects.create(username=f"c{i}", email=f"c{i}@example.org") for i in range(users)]
            park(send("one", people) + send("two", people, category="comments"))
            results = run_together(*[lambda: digests.send_due_digests(AFTER)] * runners)
    finally:
        sink.stop()
    assert sum(results) == users  # type: ignore[arg-type]
    received = sorted(r for m in sink.messages for r in m.rcpt_tos)
    assert received == sorted(f"c{i}@example.org" for i in range(users))  # each person once
    assert statuses() == ["sent"] * users * 2
    assert set(Digest.objects.values_list("status", "size")) == {("sent", 2)}
    assert Digest.objects.count() == users


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_each_digest_once_on_postgres(is_postgres: bool) -> None:
    assert is_postgres
    _concurrent()


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_each_digest_once_on_mariadb() -> None:
    assert connection.vendor == "mysql"
    _concurrent()


@pytest.mark.django_db
def test_a_group_s_row_is_listed_once_however_many_sends_folded_into_it(
    digest_settings: SmtpSink, alice: User, bob: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Each fold gives the group's row another delivery: the digest lists the row once."""
    with_address(alice)
    preferences.set_schedule(alice, "email", "daily", time=dt.time(9, 0), time_zone="Europe/Paris")
    with django_capture_on_commit_callbacks(execute=True):
        for minutes in (30, 20, 10):
            notifier.send("{actor} commented", alice, actor=bob, category="comments", channels=["email"],
                          group_key="thread-1", now=WINDOW - dt.timedelta(minutes=minutes))
    assert Delivery.objects.filter(status=Delivery.Status.DIGEST).count() == 3
    assert digests.send_due_digests(AFTER) == 1
    text = body(digest_settings.messages[0].message, "plain")
    assert text.count("bob commented") == 1
    assert Digest.objects.get().size == 1


@pytest.mark.django_db
def test_a_runner_slower_than_its_lease_sends_nothing_another_took_over(
    digest_settings: SmtpSink, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another runner takes a window over once the lease runs out; the slow one finds out just
    before sending and leaves the window to it (no second e-mail, nothing recorded)."""
    with_address(alice)
    park(send("hello", alice))
    build = digests._build

    def slow_build(*args: Any, **kwargs: Any) -> None:
        build(*args, **kwargs)
        Digest.objects.update(claim=uuid.uuid4())  # meanwhile, another runner's claim

    monkeypatch.setattr(digests, "_build", slow_build)
    assert digests.send_due_digests(AFTER) == 0
    assert digest_settings.messages == []
    assert Digest.objects.get().status == Digest.Status.SENDING
    assert statuses() == [Delivery.Status.DIGEST]  # still the other runner's to send
