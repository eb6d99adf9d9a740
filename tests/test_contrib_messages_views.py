"""inbox.contrib.messages on pages: {% inbox_messages %}, dismissing, the live list, replies,
read on visit, sse=False, close_timeout, and expiry in the kit's pages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.template import RequestContext, Template
from django.test import Client
from django.urls import include, path, reverse
from django.utils import timezone

from inbox.contrib import messages as inbox_messages
from inbox.contrib.messages import constants, sending
from inbox.events.base import describe
from inbox.exceptions import NotificationError
from inbox.models import Notification, Stats
from inbox.services import notifier

pytestmark = [pytest.mark.urls("tests.test_contrib_messages_views"), pytest.mark.django_db]

STORAGE = "inbox.contrib.messages.storage.PersistentStorage"
HTMX = {"HTTP_HX_REQUEST": "true"}

PAGE = Template("{% load inbox_messages %}<main>{% inbox_messages %}</main>")


def page_view(request: HttpRequest) -> HttpResponse:
    """A site page that shows the messages, after adding the ones posted to it."""
    if request.method == "POST":
        messages.add_message(request, int(request.POST["level"]), request.POST["message"])
    return HttpResponse(PAGE.render(RequestContext(request)))


def plain_view(request: HttpRequest) -> HttpResponse:
    """A site page that shows no messages."""
    return HttpResponse("plain")


urlpatterns = [
    path("inbox/", include("inbox.urls")),
    path("page/", page_view),
    path("plain/", plain_view),
    path("accounts/login/", plain_view, name="login"),
]


@pytest.fixture(autouse=True)
def storage_setting(settings: Any) -> None:
    settings.MESSAGE_STORAGE = STORAGE


@pytest.fixture
def bob_client(bob: User) -> Client:
    client = Client()
    client.force_login(bob)
    return client


def unread(user: User) -> int:
    return Stats.objects.get(recipient_type__model="user", recipient_id=str(user.pk)).unread


def message_for(user: User, text: str = "Your plan ends Friday.", **kwargs: Any) -> Notification:
    sent = inbox_messages.create_message(user, inbox_messages.WARNING, text, **kwargs)
    assert sent is not None
    return sent


# -- {% inbox_messages %} -----------------------------------------------------------------------------


def test_the_tag_shows_both_kinds_and_uses_up_only_djangos(alice_client: Client, alice: User) -> None:
    note = message_for(alice, "<script>alert(1)</script> stays")
    html = alice_client.post("/page/", {"level": messages.SUCCESS, "message": "Saved once."}).content.decode()
    assert "Saved once." in html and "&lt;script&gt;alert(1)&lt;/script&gt; stays" in html
    assert "<script>alert(1)" not in html
    # The persistent one has a POST form with CSRF that comes back here; Django's one only hides.
    form = re.search(r'<form class="inbox-message__dismiss" method="post" action="([^"]+)".*?</form>', html, re.S)
    assert form and form.group(1) == f"/inbox/{note.uid}/dismiss/"
    assert "csrfmiddlewaretoken" in form.group(0) and 'name="next" value="/page/"' in form.group(0)
    assert html.count("data-inbox-hide-message") == 1
    again = alice_client.get("/page/").content.decode()
    assert "Saved once." not in again and "stays" in again


def test_the_tags_persistent_list_follows_the_inbox_live(alice_client: Client, alice: User) -> None:
    html = alice_client.get("/page/").content.decode()
    assert 'hx-get="/inbox/messages/?next=/page/"' in html and 'hx-trigger="inbox:changed from:body"' in html


def test_an_anonymous_visitor_sees_their_session_messages_without_a_close_form(db: None) -> None:
    client = Client()
    html = client.post("/page/", {"level": inbox_messages.INFO, "message": "Held for you."}).content.decode()
    assert "Held for you." in html and "inbox-message__dismiss" not in html and "hx-get" not in html


# -- dismissing -------------------------------------------------------------------------------------


def test_dismiss_without_javascript_marks_read_and_comes_back(alice_client: Client, alice: User) -> None:
    note = message_for(alice)
    assert unread(alice) == 1
    response = alice_client.post(f"/inbox/{note.uid}/dismiss/", {"next": "/page/?tab=2"})
    assert response.status_code == 303 and response["Location"] == "/page/?tab=2"
    note.refresh_from_db()
    assert note.is_read and unread(alice) == 0
    assert "Your plan ends Friday." not in alice_client.get("/page/").content.decode()


def test_dismiss_with_htmx_answers_the_list_and_the_badge(alice_client: Client, alice: User) -> None:
    first, second = message_for(alice, "First"), message_for(alice, "Second")
    response = alice_client.post(f"/inbox/{first.uid}/dismiss/", {"next": "/page/"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="inbox-messages-persistent"' in html and "Second" in html and "First" not in html
    assert 'hx-swap-oob' in html and 'id="inbox-badge"' in html
    assert str(second.uid) in html


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", ""])
def test_dismiss_never_redirects_off_site(alice_client: Client, alice: User, target: str) -> None:
    note = message_for(alice)
    response = alice_client.post(f"/inbox/{note.uid}/dismiss/", {"next": target})
    assert response.status_code == 303 and response["Location"] == reverse("inbox:list")


def test_dismiss_is_scoped_to_the_requesters_messages(alice_client: Client, alice: User, bob: User) -> None:
    bobs = message_for(bob)
    not_a_message = notifier.send("A comment", [alice])[0]
    for uid in (bobs.uid, not_a_message.uid):
        assert alice_client.post(f"/inbox/{uid}/dismiss/", {"next": "/page/"}).status_code == 404
    assert not Notification.objects.filter(read_at__isnull=False).exists()


def test_dismiss_needs_post_and_csrf(alice: User) -> None:
    note = message_for(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(f"/inbox/{note.uid}/dismiss/").status_code == 405
    assert client.post(f"/inbox/{note.uid}/dismiss/", {"next": "/page/"}).status_code == 403
    note.refresh_from_db()
    assert not note.is_read


def test_the_live_list_needs_a_signed_in_person(alice_client: Client, alice: User) -> None:
    message_for(alice, "Live one")
    html = alice_client.get("/inbox/messages/?next=/page/", **HTMX).content.decode()
    assert "Live one" in html and 'value="/page/"' in html and "hx-get" in html
    assert Client().get("/inbox/messages/", **HTMX).status_code == 401


# -- replies ----------------------------------------------------------------------------------------


def test_a_reply_goes_to_the_sender_in_the_same_conversation(
    alice_client: Client, bob_client: Client, alice: User, bob: User
) -> None:
    first = message_for(alice, "Can you review the {draft}?", from_user=bob, subject="Review")
    response = alice_client.post(f"/inbox/{first.uid}/reply/", {"text": "Sure, {tonight} <b>late</b>."})
    assert response.status_code == 303 and response["Location"] == f"/inbox/{first.uid}/"
    [reply] = Notification.objects.recipients([bob])
    assert reply.message == "Sure, {tonight} <b>late</b>." and reply.actor == alice
    assert reply.parent_id == first.pk and reply.category == constants.CATEGORY
    assert reply.extra["subject"] == "Review"
    # Bob answers Alice's reply: it hangs from the same first message, and each sees the whole exchange.
    bob_client.post(f"/inbox/{reply.uid}/reply/", {"text": "Thanks!"})
    answer = Notification.objects.recipients([alice]).get(message="Thanks!")
    assert answer.parent_id == first.pk and answer.actor == bob
    alice_page = alice_client.get(f"/inbox/{first.uid}/").content.decode()
    conversation = alice_page[alice_page.index('id="inbox-conversation"'):]
    texts = re.findall(r'<p class="inbox-conversation__text">(.*?)</p>', conversation, re.S)
    assert texts == ["Can you review the {draft}?", "Sure, {tonight} &lt;b&gt;late&lt;/b&gt;.", "Thanks!"]
    assert conversation.count("is-mine") == 1 and "Reply to bob" in conversation
    bob_page = bob_client.get(f"/inbox/{reply.uid}/").content.decode()
    assert re.findall(r'<p class="inbox-conversation__text">(.*?)</p>', bob_page, re.S) == texts
    # The conversation takes the place of the generic thread timeline.
    assert 'class="inbox-thread"' not in alice_page


def test_a_reply_with_htmx_re_renders_the_conversation(alice_client: Client, alice: User, bob: User) -> None:
    first = message_for(alice, "Lunch?", from_user=bob)
    html = alice_client.post(f"/inbox/{first.uid}/reply/", {"text": "Yes"}, **HTMX).content.decode()
    assert html.startswith('\n<section id="inbox-conversation"') or 'id="inbox-conversation"' in html
    assert "Yes" in html and "Reply sent to bob." in html and "hx-swap-oob" in html


@pytest.mark.parametrize("text, error", [("", "Write a reply first."), ("   ", "Write a reply first."),
                                          ("x" * 5001, "at most 5000")])
def test_a_bad_reply_is_a_400_and_sends_nothing(alice_client: Client, alice: User, bob: User,
                                                 text: str, error: str) -> None:
    first = message_for(alice, "Lunch?", from_user=bob)
    response = alice_client.post(f"/inbox/{first.uid}/reply/", {"text": text})
    assert response.status_code == 400 and error in response.content.decode()
    htmx = alice_client.post(f"/inbox/{first.uid}/reply/", {"text": text}, **HTMX)
    assert htmx.status_code == 400 and error in htmx.content.decode() and 'aria-invalid="true"' in htmx.content.decode()
    assert not Notification.objects.recipients([bob]).exists()


def test_only_a_message_from_a_person_can_be_answered(alice_client: Client, alice: User, bob: User) -> None:
    from_nobody = message_for(alice, "System notice")
    assert alice_client.post(f"/inbox/{from_nobody.uid}/reply/", {"text": "hi"}).status_code == 400
    assert "inbox-conversation__reply" not in alice_client.get(f"/inbox/{from_nobody.uid}/").content.decode()
    comment = notifier.send("{actor} commented", [alice], actor=bob, category="comments")[0]
    assert alice_client.post(f"/inbox/{comment.uid}/reply/", {"text": "hi"}).status_code == 404
    bob.is_active = False
    bob.save()
    from_gone = message_for(alice, "Bye", from_user=bob)
    assert alice_client.post(f"/inbox/{from_gone.uid}/reply/", {"text": "hi"}).status_code == 400
    assert not Notification.objects.recipients([bob]).exists()


def test_nobody_replies_to_or_reads_someone_elses_conversation(
    alice_client: Client, alice: User, bob: User, carol: User
) -> None:
    to_bob = message_for(bob, "Private to Bob", from_user=alice)
    assert alice_client.post(f"/inbox/{to_bob.uid}/reply/", {"text": "hi"}).status_code == 404
    # A message the site hung from Alice's conversation for Carol is neither Alice's nor written by her.
    first = message_for(alice, "Hello Alice", from_user=bob)
    notifier.send("For Carol only", [carol], actor=bob, parent=first, category=constants.CATEGORY)
    page = alice_client.get(f"/inbox/{first.uid}/").content.decode()
    assert "For Carol only" not in page


def test_the_conversation_costs_one_query(alice_client: Client, alice: User, bob: User,
                                          django_assert_num_queries: Any) -> None:
    from inbox.contrib.messages import conversation

    first = message_for(alice, "One", from_user=bob)
    for n in range(5):
        sending.create_message(alice, inbox_messages.INFO, f"More {n}", from_user=bob, parent=first)
    request = alice_client.get("/plain/").wsgi_request
    request.user = alice
    request._inbox_recipients = [alice]  # type: ignore[attr-defined]
    with django_assert_num_queries(2):  # the messages, then their senders (one per sender model)
        rows = conversation.messages_of(request, first)
    assert [row.message for row in rows] == ["One", *[f"More {n}" for n in range(5)]]


# -- read on visit ------------------------------------------------------------------------------------


def test_visiting_a_messages_url_reads_it_when_asked(settings: Any, alice_client: Client, alice: User) -> None:
    elsewhere = message_for(alice, "About another page", url="/elsewhere/")
    here = message_for(alice, "About the plain page", url="/plain/")
    alice_client.get("/plain/")
    here.refresh_from_db()
    assert not here.is_read  # the option is off by default
    settings.INBOX = {"MESSAGES_READ_ON_VISIT": True}
    alice_client.get("/plain/")
    here.refresh_from_db()
    elsewhere.refresh_from_db()
    assert here.is_read and not elsewhere.is_read and unread(alice) == 1


def test_read_on_visit_reuses_the_list_a_page_already_read(settings: Any, alice_client: Client, alice: User) -> None:
    settings.INBOX = {"MESSAGES_READ_ON_VISIT": True}
    here = message_for(alice, "About this page", url="/page/")
    html = alice_client.get("/page/").content.decode()
    assert "About this page" in html  # shown on the visit, read from then on
    here.refresh_from_db()
    assert here.is_read
    assert "About this page" not in alice_client.get("/page/").content.decode()


def test_read_on_visit_ignores_posts_errors_and_visitors(settings: Any, alice_client: Client, alice: User) -> None:
    settings.INBOX = {"MESSAGES_READ_ON_VISIT": True}
    here = message_for(alice, "About the page", url="/page/")
    alice_client.post("/page/", {"level": messages.INFO, "message": "x"})
    alice_client.get("/missing/")
    here.refresh_from_db()
    assert not here.is_read
    assert Client().get("/page/").status_code == 200


def test_read_on_visit_of_a_page_without_messages_is_one_query(
    settings: Any, alice_client: Client, alice: User, django_assert_max_num_queries: Any
) -> None:
    settings.INBOX = {"MESSAGES_READ_ON_VISIT": True}
    alice_client.get("/plain/")  # warm the session and content types
    with django_assert_max_num_queries(3):  # session, user, then the one read-on-visit query
        alice_client.get("/plain/")


# -- sse=False, close_timeout ------------------------------------------------------------------------------


def test_sse_false_stores_without_announcing(alice: User, broker: Any, django_capture_on_commit_callbacks: Any) -> None:
    channel = f"auth.user:{alice.pk}"
    with broker.subscribe([channel]) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            quiet = inbox_messages.create_message(alice, inbox_messages.INFO, "Quiet", sse=False)
        assert subscription.drain() == []
        with django_capture_on_commit_callbacks(execute=True):
            loud = inbox_messages.create_message(alice, inbox_messages.INFO, "Loud")
        [event] = subscription.drain()
    assert quiet is not None and loud is not None and event.new == (str(loud.uid),)
    assert unread(alice) == 2


def test_announce_false_cannot_be_silent(alice: User) -> None:
    with pytest.raises(NotificationError):
        notifier.send("x", [alice], silent=True, announce=False)


def test_close_timeout_reaches_the_toast(alice: User) -> None:
    from inbox.sse.stream import InboxStream

    timed = message_for(alice, "Five seconds", close_timeout=5)
    sticky = message_for(alice, "Until dismissed", close_timeout=0)
    plain = message_for(alice, "Default")
    assert describe(timed)["close_timeout"] == 5 and describe(sticky)["close_timeout"] == 0
    assert "close_timeout" not in describe(plain)
    toasts = b"".join(InboxStream([alice]).toasts([describe(timed), describe(sticky), describe(plain)], [])).decode()
    assert 'data-inbox-timeout="5"' in toasts and 'data-inbox-timeout="0"' in toasts
    assert toasts.count("data-inbox-timeout") == 2


def test_only_close_timeout_of_extra_reaches_a_browser(alice: User) -> None:
    [note] = notifier.send("x", [alice], extra={"close_timeout": "soon", "secret": "s3cr3t"})
    assert set(describe(note)) == {"uid", "message", "level", "category", "url", "sent_at"}


# -- expiry in the kit's pages -------------------------------------------------------------------------------


def test_expired_notifications_leave_every_page(alice_client: Client, alice: User) -> None:
    now = timezone.now()
    expiring = message_for(alice, "Gone soon", expires=now + timedelta(hours=1))
    message_for(alice, "Stays")
    Notification.objects.filter(pk=expiring.pk).update(expires_at=now - timedelta(seconds=1))
    listing = alice_client.get("/inbox/").content.decode()
    assert "Stays" in listing and "Gone soon" not in listing
    assert alice_client.get(f"/inbox/{expiring.uid}/").status_code == 404
    assert alice_client.post(f"/inbox/{expiring.uid}/dismiss/", {"next": "/page/"}).status_code == 404
    assert "Gone soon" not in alice_client.get("/inbox/preview/").content.decode()
    assert "Gone soon" not in alice_client.get("/page/").content.decode()
