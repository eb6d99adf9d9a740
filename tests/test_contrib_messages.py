"""inbox.contrib.messages: a django.contrib.messages storage whose persistent levels are notifications.

The first half ports the behaviour Django's own storage tests check (add, iterate, ``used``,
levels, tags, the middleware missing, the cookie spilling into the session) to
PersistentStorage, for an anonymous visitor and a signed-in person. The second half checks what
the storage adds: persistent messages in the inbox, held in the session for a visitor and moved
at login, kept apart per person and per session, expiry, and the query counts.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.auth.signals import user_logged_in
from django.contrib.messages import constants as django_levels
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest, HttpResponse
from django.template import RequestContext, Template
from django.test import Client, RequestFactory
from django.urls import path
from django.utils import timezone

from inbox.contrib import messages as inbox_messages
from inbox.contrib.messages import constants, pending
from inbox.contrib.messages.message import PersistentMessage
from inbox.contrib.messages.storage import PersistentStorage
from inbox.models import Delivery, Level, Notification, Stats
from inbox.services import manager

STORAGE = "inbox.contrib.messages.storage.PersistentStorage"

pytestmark = [pytest.mark.urls("tests.test_contrib_messages"), pytest.mark.django_db]


# -- views for the request/response cycle ----------------------------------------------------------


def add_view(request: HttpRequest) -> HttpResponse:
    """POST level/message pairs (and extra_tags); adds them through Django's own API."""
    extra_tags = request.POST.get("extra_tags", "")
    for level, text in zip(request.POST.getlist("level"), request.POST.getlist("message"), strict=True):
        messages.add_message(request, int(level), text, extra_tags=extra_tags)
    return HttpResponse("added")


SHOW = Template(
    "{% if messages %}{% for m in messages %}"
    "{{ m.level }}|{{ m.tags }}|{{ m.message }}|{{ m.uid|default:'' }}\n"
    "{% endfor %}{% else %}none{% endif %}"
)


def show_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(SHOW.render(RequestContext(request)))


def add_and_show_view(request: HttpRequest) -> HttpResponse:
    add_view(request)
    return show_view(request)


urlpatterns = [
    path("add/", add_view),
    path("show/", show_view),
    path("add-show/", add_and_show_view),
]


def shown(client: Client) -> list[tuple[int, str, str, str]]:
    """What the page lists: (level, tags, message, uid) per message."""
    body = client.get("/show/").content.decode()
    if body == "none":
        return []
    return [
        (int(level), tags, text, uid)
        for level, tags, text, uid in (line.split("|") for line in body.splitlines())
    ]


def add(client: Client, *pairs: tuple[int, str], extra_tags: str = "") -> HttpResponse:
    data: dict[str, Any] = {"level": [p[0] for p in pairs], "message": [p[1] for p in pairs]}
    if extra_tags:
        data["extra_tags"] = extra_tags
    response = client.post("/add/", data)
    assert response.status_code == 200
    return response


@pytest.fixture(autouse=True)
def storage_setting(settings: Any) -> None:
    settings.MESSAGE_STORAGE = STORAGE


@pytest.fixture(params=["anonymous", "signed_in"])
def visitor(request: pytest.FixtureRequest, db: None) -> Client:
    client = Client()
    if request.param == "signed_in":
        client.force_login(User.objects.create_user("visitor", password="pw"))
    return client


def storage_for(user: Any, session: SessionStore | None = None) -> PersistentStorage:
    request = RequestFactory().get("/")
    request.user = user
    request.session = session if session is not None else SessionStore()
    return PersistentStorage(request)


def mine(user: User) -> Any:
    return Notification.objects.recipients([user])


# -- Django's behaviour, unchanged for Django's levels -----------------------------------------------


def test_django_levels_are_shown_once_then_used_up(visitor: Client) -> None:
    add(visitor, (django_levels.INFO, "one"), (django_levels.ERROR, "two"))
    assert [(level, text) for level, _t, text, _u in shown(visitor)] == [(20, "one"), (40, "two")]
    assert shown(visitor) == []
    assert not Notification.objects.exists()


def test_messages_stay_until_a_response_reads_them(visitor: Client) -> None:
    add(visitor, (django_levels.INFO, "first"))
    add(visitor, (django_levels.WARNING, "second"))  # this response did not iterate
    assert [text for _l, _t, text, _u in shown(visitor)] == ["first", "second"]


def test_added_and_read_in_the_same_request_are_gone_after(visitor: Client) -> None:
    body = visitor.post("/add-show/", {"level": [django_levels.SUCCESS], "message": ["now"]}).content.decode()
    assert "25|success|now|" in body
    assert shown(visitor) == []


def test_iterating_sets_used_and_keeps_persistent_ones_unread(alice: User) -> None:
    storage = storage_for(alice)
    storage.add(django_levels.INFO, "plain")
    storage.add(inbox_messages.INFO, "kept")
    assert not storage.used
    assert [str(m) for m in storage] == ["kept", "plain"]
    assert storage.used
    assert mine(alice).get().read_at is None


def test_message_level_setting_filters_both_kinds(settings: Any, alice: User) -> None:
    storage = storage_for(alice)
    storage.add(django_levels.DEBUG, "debug")  # under the default MESSAGE_LEVEL (INFO)
    storage.add(inbox_messages.DEBUG, "persistent debug")
    assert list(storage) == [] and not Notification.objects.exists()

    settings.MESSAGE_LEVEL = django_levels.DEBUG
    storage = storage_for(alice)
    storage.add(django_levels.DEBUG, "debug")
    storage.add(inbox_messages.DEBUG, "persistent debug")
    assert [m.level for m in storage] == [inbox_messages.DEBUG, django_levels.DEBUG]

    settings.MESSAGE_LEVEL = django_levels.ERROR
    storage = storage_for(alice)
    storage.add(inbox_messages.WARNING, "under the level")
    storage.add(inbox_messages.ERROR, "at the level")
    # Like Django, the level filters what is added; what is stored already stays.
    assert [m.message for m in storage.get_persistent_unread()] == ["persistent debug", "at the level"]


def test_empty_messages_are_not_stored(alice: User) -> None:
    storage = storage_for(alice)
    storage.add(django_levels.INFO, "")
    storage.add(inbox_messages.INFO, "")
    assert list(storage) == [] and not Notification.objects.exists()


def test_tags_and_level_tags(visitor: Client) -> None:
    add(visitor, (django_levels.WARNING, "w"), (inbox_messages.ERROR, "e"), extra_tags="inbox extra")
    tags = {text: t for _l, t, text, _u in shown(visitor)}
    assert tags == {"w": "inbox extra warning", "e": "inbox extra error"}


def test_message_tags_setting_can_name_a_persistent_level(settings: Any, alice_client: Client) -> None:
    settings.MESSAGE_TAGS = {inbox_messages.WARNING: "stored-warning", django_levels.ERROR: "danger"}
    add(alice_client, (inbox_messages.WARNING, "w"), (inbox_messages.ERROR, "e"))
    assert {text: t for _l, t, text, _u in shown(alice_client)} == {"w": "stored-warning", "e": "danger"}


def test_without_the_middleware_adding_fails_unless_silent() -> None:
    request = RequestFactory().get("/")
    with pytest.raises(messages.MessageFailure):
        messages.add_message(request, inbox_messages.INFO, "x")
    with pytest.raises(messages.MessageFailure):
        inbox_messages.add_message(request, inbox_messages.INFO, "x")
    with pytest.raises(messages.MessageFailure):
        inbox_messages.add_message(request, django_levels.INFO, "x")
    inbox_messages.add_message(request, inbox_messages.INFO, "x", fail_silently=True)
    messages.add_message(request, inbox_messages.INFO, "x", fail_silently=True)
    assert not Notification.objects.exists()
    with pytest.raises(TypeError):
        inbox_messages.add_message(object(), inbox_messages.INFO, "x")  # type: ignore[arg-type]


def test_a_full_cookie_spills_into_the_session(visitor: Client) -> None:
    # Random text, so the cookie's compression cannot make it fit: ~9 kB against the cookie's 2 kB.
    texts = [f"{n}:" + secrets.token_urlsafe(675) for n in range(10)]
    response = add(visitor, *[(django_levels.INFO, text) for text in texts])
    assert "messages" in response.cookies and response.cookies["messages"].value
    assert visitor.session.get("_messages"), "the rest went to the session"
    assert [text for _l, _t, text, _u in shown(visitor)] == texts
    assert shown(visitor) == []


# -- persistent levels -------------------------------------------------------------------------------


def test_persistent_levels_map_onto_the_kits_levels() -> None:
    assert [inbox_messages.DEBUG, inbox_messages.INFO, inbox_messages.SUCCESS, inbox_messages.WARNING,
            inbox_messages.ERROR] == [110, 120, 125, 130, 140]
    assert not {10, 20, 25, 30, 40} & inbox_messages.PERSISTENT_LEVELS
    assert [constants.kit_level(level) for level in sorted(inbox_messages.PERSISTENT_LEVELS)] == list(Level)
    assert constants.kit_level(django_levels.WARNING) is Level.WARNING
    with pytest.raises(ValueError):
        constants.kit_level(35)


def test_a_persistent_message_is_a_notification_stored_literally(alice_client: Client, alice: User) -> None:
    text = "Quota {recipient.password} at 100%} {0}"
    add(alice_client, (inbox_messages.WARNING, text), extra_tags="billing")
    note = mine(alice).get()
    assert note.message == text
    assert (note.category, note.level, note.extra) == ("messages", Level.WARNING, {"extra_tags": "billing"})
    assert Stats.objects.recipients([alice]).get().unread == 1
    [(level, tags, shown_text, uid)] = shown(alice_client)
    assert (level, tags, shown_text, uid) == (inbox_messages.WARNING, "billing warning", text, str(note.uid))
    assert len(shown(alice_client)) == 1, "stays until read"

    manager.mark_read(mine(alice))
    assert shown(alice_client) == []


def test_add_message_options_become_notification_fields(alice: User, bob: User) -> None:
    storage = storage_for(alice)
    request = storage.request
    request._messages = storage  # type: ignore[attr-defined]
    expires = timezone.now() + timedelta(days=2)
    inbox_messages.add_message(
        request, inbox_messages.SUCCESS, "Backup done", extra_tags="ops", subject="Backups",
        from_user=bob, expires=expires, close_timeout=5, email=True,
    )
    note = mine(alice).get()
    assert note.actor == bob and note.expires_at == expires and note.level == Level.SUCCESS
    assert note.extra == {"subject": "Backups", "extra_tags": "ops", "close_timeout": 5}
    assert list(Delivery.objects.values_list("notification_id", "channel")) == [(note.pk, "email")]
    [message] = storage.get_persistent_unread()
    assert (message.subject, message.close_timeout, message.expires, message.pk) == ("Backups", 5, expires, note.pk)
    assert message.is_persistent and not message.is_read


def test_add_message_for_another_user(alice: User, bob: User, alice_client: Client) -> None:
    storage = storage_for(alice)
    storage.request._messages = storage  # type: ignore[attr-defined]
    inbox_messages.add_message(storage.request, inbox_messages.INFO, "Hi Bob", user=bob)
    assert mine(bob).get().message == "Hi Bob" and not mine(alice).exists()
    assert shown(alice_client) == []
    # Another person's inbox needs no message storage at all.
    inbox_messages.add_message(RequestFactory().get("/"), inbox_messages.INFO, "Again", user=bob)
    assert mine(bob).count() == 2


def test_persistent_levels_need_this_storage(settings: Any, alice: User) -> None:
    settings.MESSAGE_STORAGE = "django.contrib.messages.storage.fallback.FallbackStorage"
    request = RequestFactory().get("/")
    request.user = alice
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    with pytest.raises(messages.MessageFailure):
        inbox_messages.add_message(request, inbox_messages.INFO, "x")
    inbox_messages.add_message(request, django_levels.INFO, "plain")
    assert [str(m) for m in request._messages] == ["plain"]  # type: ignore[attr-defined]


def test_create_message_from_a_background_job(alice: User, bob: User) -> None:
    note = inbox_messages.create_message(alice, inbox_messages.ERROR, "Import failed: {row 3}", from_user=bob,
                                         subject="Import")
    assert note is not None and note.message == "Import failed: {row 3}"
    assert (note.level, note.category, note.actor, note.extra) == (Level.ERROR, "messages", bob, {"subject": "Import"})
    assert inbox_messages.create_message(alice, django_levels.INFO, "Django level").level == Level.INFO  # type: ignore[union-attr]
    assert inbox_messages.create_message(alice, inbox_messages.INFO, "") is None
    assert inbox_messages.create_message(alice, inbox_messages.INFO, "old",
                                         expires=timezone.now() - timedelta(seconds=1)) is None
    with pytest.raises(ValueError):
        inbox_messages.create_message(alice, 99, "bad level")
    with pytest.raises(ValueError):
        inbox_messages.create_message(alice, inbox_messages.INFO, "bad timeout", close_timeout=-1)
    assert mine(alice).count() == 2


def test_get_persistent_lists_read_ones_too(alice: User) -> None:
    first = inbox_messages.create_message(alice, inbox_messages.INFO, "first")
    inbox_messages.create_message(alice, inbox_messages.INFO, "second")
    manager.mark_read(Notification.objects.filter(pk=first.pk))  # type: ignore[union-attr]
    storage = storage_for(alice)
    assert [(m.message, m.is_read) for m in storage.get_persistent()] == [("first", True), ("second", False)]
    assert [m.message for m in storage.get_persistent_unread()] == ["second"]
    assert PersistentMessage.from_notification(mine(alice).get(message="second")) in storage
    assert len(storage) == 1 and storage.count_persistent_unread() == 1


def test_other_notifications_are_not_messages(alice: User) -> None:
    from inbox.services import notifier

    notifier.send("A comment", [alice], category="comments")
    storage = storage_for(alice)
    assert list(storage) == [] and storage.count_unread() == 0


def test_nonpersistent_helpers(alice: User) -> None:
    storage = storage_for(alice)
    storage.add(django_levels.INFO, "plain")
    storage.add(inbox_messages.INFO, "stored")
    assert storage.count_nonpersistent() == 1 and storage.count_persistent_unread() == 1
    assert storage.count_unread() == 2
    assert not storage.used
    assert [str(m) for m in storage.get_nonpersistent()] == ["plain"]
    assert storage.used


# -- anonymous visitors, and moving at login -----------------------------------------------------------


def test_an_anonymous_visitors_persistent_messages_live_in_their_session(db: None) -> None:
    client = Client()
    add(client, (inbox_messages.WARNING, "Your cart expires soon"))
    assert not Notification.objects.exists()
    assert [(level, text, uid) for level, _t, text, uid in shown(client)] == [
        (inbox_messages.WARNING, "Your cart expires soon", "")
    ]
    assert len(shown(client)) == 1, "kept until they sign in"
    assert shown(Client()) == [], "another session never sees them"


def test_a_visitors_messages_move_into_their_inbox_at_login(alice: User) -> None:
    client = Client()
    add(client, (inbox_messages.INFO, "Saved {draft}"), (django_levels.INFO, "plain"), extra_tags="drafts")
    client.force_login(alice)
    note = mine(alice).get()
    assert (note.message, note.level, note.category, note.extra) == (
        "Saved {draft}", Level.INFO, "messages", {"extra_tags": "drafts"}
    )
    assert pending.SESSION_KEY not in client.session
    assert [(text, uid) for _l, _t, text, uid in shown(client)] == [("Saved {draft}", str(note.uid)), ("plain", "")]
    client.logout()
    assert shown(client) == []


def test_moving_at_login_in_the_same_request_refreshes_the_storage(alice: User) -> None:
    from django.contrib.auth import login

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    request.session = SessionStore()
    storage = PersistentStorage(request)
    request._messages = storage  # type: ignore[attr-defined]
    storage.add(inbox_messages.SUCCESS, "welcome back")
    assert [m.uid for m in storage] == [None]
    login(request, alice, backend="django.contrib.auth.backends.ModelBackend")
    [message] = storage.get_persistent_unread()
    assert message.uid == mine(alice).get().uid


def test_the_app_connects_the_login_receiver(settings: Any) -> None:
    uid = "inbox.contrib.messages.pending.move_on_login"
    user_logged_in.disconnect(dispatch_uid=uid)
    assert not any(receiver[0][0] == uid for receiver in user_logged_in.receivers)
    # The test settings install the app: loading the apps again runs its ready().
    assert "inbox.contrib.messages" in settings.INSTALLED_APPS
    settings.INSTALLED_APPS = list(settings.INSTALLED_APPS)
    assert any(receiver[0][0] == uid for receiver in user_logged_in.receivers)


def test_the_session_holds_a_bounded_number(db: None) -> None:
    session = SessionStore()
    for n in range(pending.MAX_PENDING + 5):
        pending.add(session, inbox_messages.INFO, f"m{n}")
    held = pending.load(session)
    assert len(held) == pending.MAX_PENDING and held[0].message == "m5"


def test_tampered_session_entries_are_ignored(alice: User) -> None:
    session = SessionStore()
    session[pending.SESSION_KEY] = [{"level": 999}, "junk", {"level": 120, "message": "x", "extra_tags": "",
                                    "subject": "", "close_timeout": None, "created": "no", "expires": 5,
                                    "email": False}]
    assert pending.load(session) == []
    assert pending.move(session, alice) == 0 and not Notification.objects.exists()


# -- isolation -----------------------------------------------------------------------------------------


def test_no_message_reaches_another_person(alice_client: Client, bob: User) -> None:
    bob_client = Client()
    bob_client.force_login(bob)
    add(alice_client, (inbox_messages.ERROR, "alice only"), (django_levels.INFO, "alice plain"))
    assert shown(bob_client) == []
    assert [text for _l, _t, text, _u in shown(alice_client)] == ["alice only", "alice plain"]
    assert not mine(bob).exists()


# -- expiry --------------------------------------------------------------------------------------------


def test_expired_messages_never_show_or_count(alice: User, alice_client: Client) -> None:
    soon = timezone.now() + timedelta(hours=1)
    inbox_messages.create_message(alice, inbox_messages.INFO, "expiring", expires=soon)
    inbox_messages.create_message(alice, inbox_messages.INFO, "lasting")
    assert len(shown(alice_client)) == 2
    mine(alice).filter(message="expiring").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert [text for _l, _t, text, _u in shown(alice_client)] == ["lasting"]
    storage = storage_for(alice)
    assert storage.count_persistent_unread() == 1 and len(storage.get_persistent()) == 1


def test_an_anonymous_visitors_expired_message_is_dropped(alice: User) -> None:
    client = Client()
    add(client, (inbox_messages.INFO, "short-lived"))
    session = client.session
    session[pending.SESSION_KEY][0]["expires"] = (timezone.now() - timedelta(seconds=1)).isoformat()
    session.save()
    assert shown(client) == []
    client.force_login(alice)
    assert not Notification.objects.exists()


# -- query counts --------------------------------------------------------------------------------------


def test_a_page_reads_persistent_messages_once(alice: User, warm_content_types: None,
                                               django_assert_num_queries: Any) -> None:
    for n in range(3):
        inbox_messages.create_message(alice, inbox_messages.INFO, f"m{n}")
    storage = storage_for(alice)
    with django_assert_num_queries(1):  # the unread list; every count comes from it
        assert bool(storage)
        assert [m.message for m in storage] == ["m0", "m1", "m2"]
        assert storage.count_unread() == storage.count_persistent_unread() == len(storage) == 3


def test_a_count_past_the_list_cap_is_one_more_query(alice: User, warm_content_types: None,
                                                     django_assert_num_queries: Any) -> None:
    class Small(PersistentStorage):
        max_unread = 2

    for n in range(3):
        inbox_messages.create_message(alice, inbox_messages.INFO, f"m{n}")
    storage = Small(storage_for(alice).request)
    with django_assert_num_queries(2):
        assert [m.message for m in storage] == ["m1", "m2"]  # the newest two, oldest first
        assert storage.count_persistent_unread() == 3


def test_an_anonymous_page_reads_no_table(db: None, django_assert_num_queries: Any) -> None:
    storage = storage_for(AnonymousUser())
    storage.add(inbox_messages.INFO, "held")
    with django_assert_num_queries(0):
        assert [m.message for m in storage] == ["held"] and storage.count_unread() == 1


def test_a_message_that_can_no_longer_be_stored_never_breaks_a_login(settings: Any, alice: User) -> None:
    client = Client()
    add(client, (inbox_messages.INFO, "x" * 50), (inbox_messages.INFO, "short"))
    settings.INBOX = {"MAX_MESSAGE_LENGTH": 10}  # changed between the visit and the login
    client.force_login(alice)
    assert list(mine(alice).values_list("message", flat=True)) == ["short"]
    assert pending.SESSION_KEY not in client.session


def test_anonymous_messages_get_the_checks_stored_ones_get(settings: Any, db: None) -> None:
    from inbox.exceptions import MessageTooLongError

    settings.INBOX = {"MAX_MESSAGE_LENGTH": 10}
    storage = storage_for(AnonymousUser())
    with pytest.raises(MessageTooLongError):
        storage.add(inbox_messages.INFO, "x" * 11)
    with pytest.raises(ValueError):
        storage.add(inbox_messages.INFO, "ok", close_timeout=-1)
    assert not pending.load(storage.request.session)
