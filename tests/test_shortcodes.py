"""Issue 12: shortcodes, ``[name attr=value]`` tags expanded wherever message text is shown,
and never forged from the values ``send()`` fills in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from inbox import shortcodes
from inbox.admin import NotificationAdmin
from inbox.channels.console import ConsoleProvider
from inbox.channels.slack import SlackProvider
from inbox.channels.webhook import notification_data
from inbox.contrib.messages.message import PersistentMessage
from inbox.events.base import describe
from inbox.formatting import MessageTemplate
from inbox.models import Notification
from inbox.services import notifier
from inbox.shortcodes import SHORTCODES, Shortcode, ShortcodeRegistry, expand_html, expand_text
from inbox.sse.stream import InboxStream
from inbox.tables import NotificationTable
from tests.sinks import SmtpSink, email_settings_fixture, smtp_sink_fixture  # noqa: F401

Calls = list[tuple[Shortcode, dict[str, Any]]]


@pytest.fixture
def register() -> Iterator[Callable[..., Calls]]:
    """``register(name, handler=None)``: a handler for the test (by default one that echoes the
    tag), unregistered afterwards; returns the list of (shortcode, context) it was called with."""
    names: list[str] = []

    def add(name: str, handler: Callable[[Shortcode, dict[str, Any]], Any] | None = None) -> Calls:
        calls: Calls = []

        def recording(shortcode: Shortcode, context: Any) -> Any:
            calls.append((shortcode, dict(context)))
            if handler is not None:
                return handler(shortcode, context)
            attrs = ",".join(f"{key}={value}" for key, value in shortcode.attrs.items())
            return f"<{shortcode.name}|{attrs}|{shortcode.content}>"

        SHORTCODES.register(name)(recording)
        names.append(name)
        return calls

    yield add
    for name in names:
        SHORTCODES.unregister(name)


def user_tag(shortcode: Shortcode, context: Any) -> SafeString:
    """A site's ``[user id=N]``: HTML it builds itself."""
    return format_html('<b class="who">USER#{}</b>', shortcode.attrs.get("id", "?"))


# -- Grammar ------------------------------------------------------------------------------------


def test_a_lone_tag_with_attributes_in_every_quoting(register):
    calls = register("tag")
    text = expand_text("""Hi [tag a=1 b="two words" c='x "y"' d=/p?q=1&r=2 e=""] there""")
    assert text == "Hi <tag|a=1,b=two words,c=x \"y\",d=/p?q=1&r=2,e=|None> there"
    [(shortcode, _context)] = calls
    assert shortcode == Shortcode("tag", {"a": "1", "b": "two words", "c": 'x "y"', "d": "/p?q=1&r=2", "e": ""})


def test_content_runs_to_the_closing_tag_with_escapes_resolved(register):
    calls = register("quote")
    assert expand_text("> [quote by=ann]Use [[brackets]] & <b>[/quote] <") == "> <quote|by=ann|Use [brackets] & <b>> <"
    assert calls[0][0].content == "Use [brackets] & <b>"
    assert expand_text("[quote][/quote]") == "<quote||>"  # empty content is "", not None


def test_escapes_are_literal_brackets(register):
    register("tag")
    assert expand_text("[[tag]]") == "[tag]"
    assert expand_text("[[tag a=1]] and [tag]") == "[tag a=1] and <tag||None>"
    assert expand_text("[[[tag]") == "[<tag||None>"
    assert expand_text("a]]b ]]] [[[[") == "a]b ]] [["
    assert expand_text("no opening bracket]]") == "no opening bracket]"


def test_nesting_is_refused_and_the_outer_tag_stays_as_written(register):
    outer, inner = register("outer"), register("inner")
    assert expand_text("[outer][inner]x[/inner][/outer]") == "[outer]<inner||x>[/outer]"
    assert not outer and len(inner) == 1
    # The same name inside itself: the first stays, the second encloses.
    assert expand_text("[outer][outer]x[/outer]") == "[outer]<outer||x>"


def test_a_name_used_with_content_encloses_everywhere_after(register):
    register("b")
    assert expand_text("[b] then [b]x[/b]") == "[b] then <b||x>"
    assert expand_text("[/b] [b]") == "[/b] <b||None>"  # a closing tag before it closes nothing


@pytest.mark.parametrize(
    "message",
    [
        "[nope]",
        "[nope a=1]x[/nope]",
        "[ tag]",
        "[tag a]",
        "[tag a=1 a=2]",
        '[tag a="x]',
        '[tag a="x"b=1]',
        "[tag a=]",
        "[tag =1]",
        "[tag no end [/tag]",
        "[/tag]",
        "[tag",
        "tag]",
        "[1tag]",
        "[t@g]",
        "[tag a=<x>",
        "[tag " + "a" * shortcodes.MAX_TAG_LENGTH + "=1]",
        "[tag " + " ".join(f"k{i}=1" for i in range(shortcodes.MAX_ATTRS + 1)) + "]",
        "[" + "t" * 65 + "]",
    ],
)
def test_unknown_and_malformed_tags_stay_literal(register, message):
    calls = register("tag")
    for name in ("t" * 65, "nope"):
        assert name not in SHORTCODES
    assert expand_text(message) == message
    assert expand_html(message) == message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;"
    )
    assert calls == []


def test_at_most_max_tags_expand_per_message(register):
    calls = register("tag")
    extra = 5
    text = expand_text("[tag]" * (shortcodes.MAX_TAGS + extra))
    assert len(calls) == shortcodes.MAX_TAGS
    assert text == "<tag||None>" * shortcodes.MAX_TAGS + "[tag]" * extra


def test_a_message_without_brackets_is_not_parsed(monkeypatch):
    def no_parsing(text: str) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(shortcodes, "_lex", no_parsing)
    assert expand_text("plain text ]] here") == "plain text ] here"
    assert expand_html("a <b> & c") == "a &lt;b&gt; &amp; c"
    with pytest.raises(AssertionError):
        expand_text("[x]")


# -- Handlers -----------------------------------------------------------------------------------


def test_a_failing_handler_is_logged_and_its_tag_shown_as_written(register, caplog):
    def boom(shortcode: Shortcode, context: Any) -> str:
        raise RuntimeError("database down")

    register("boom", boom)
    register("none", lambda shortcode, context: None)
    caplog.set_level(logging.ERROR, logger="inbox.shortcodes")
    assert expand_text("a [boom x=1] b [none]") == "a [boom x=1] b [none]"
    assert expand_html("[boom]<i>[/boom]") == "[boom]&lt;i&gt;[/boom]"
    assert expand_text("[boom]<i>[/boom]") == "[boom]<i>[/boom]"
    records = [record for record in caplog.records if record.name == "inbox.shortcodes"]
    assert len(records) == 4
    assert records[0].exc_info and "database down" in str(records[0].exc_info[1])
    assert "[boom]" in records[0].getMessage()
    assert "must return a str" in str(records[1].exc_info[1])  # type: ignore[index]


def test_a_handlers_plain_text_is_escaped_and_only_its_own_safe_html_passes(register):
    register("plain", lambda shortcode, context: "<script>alert(1)</script>")
    register("echo", lambda shortcode, context: shortcode.attrs["v"])
    register("link", lambda shortcode, context: format_html('<a title="{}">{}</a>', shortcode.attrs["v"], "x&y"))
    html = expand_html("<b>[plain]</b>")
    assert isinstance(html, SafeString)
    assert html == "&lt;b&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;/b&gt;"
    hostile = """'"><script>alert(1)</script>'"""
    echoed = expand_html(f"[echo v={hostile}]")
    assert echoed == "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    assert expand_html(f"[link v={hostile}]") == '<a title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">x&amp;y</a>'
    # A value that breaks the tag makes it literal text, escaped as well.
    assert expand_html('[echo v="><script>]') == "[echo v=&quot;&gt;&lt;script&gt;]"
    # Text keeps the handler's characters; the SafeString is reduced to its text.
    assert expand_text("[plain]") == "<script>alert(1)</script>"
    assert expand_text(f"[link v={hostile}]") == "x&y"


def test_handlers_get_the_notification_and_the_request(register, alice):
    calls = register("tag")
    [note] = notifier.send("[tag]", alice)
    request = RequestFactory().get("/somewhere/")
    html = Template("{% load inbox %}{{ note|inbox_message:request }}|{{ note|inbox_message_text }}").render(
        Context({"note": note, "request": request})
    )
    assert html == "&lt;tag||None&gt;|&lt;tag||None&gt;"
    assert calls[0][1]["notification"] == note and calls[0][1]["request"] is request
    assert calls[1][1]["notification"] == note and calls[1][1]["request"] is None
    assert expand_text("[tag]") and calls[2][1] == {"notification": None, "request": None}


# -- Hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("[" * 100_001, "[" * 50_001),
        ("]" * 100_001, "]" * 50_001),
        # A tag start with no end: searching for "]" again from each "[" would be quadratic.
        ("[tag a=1 " * 50_000, "[tag a=1 " * 50_000),
        # Nested quantifiers over the attributes (a naive regex) backtrack exponentially on this.
        ("[tag" + " a=1" * 50_000, "[tag" + " a=1" * 50_000),
        ("[tag" + " a=a" * 100 + " !]", "[tag" + " a=a" * 100 + " !]"),
        ('[tag a="' * 50_000 + "]", '[tag a="' * 50_000 + "]"),
        ("[tag]" * 50_000 + "[/tag", "<tag||None>" * 50 + "[tag]" * 49_950 + "[/tag"),
        ("[tag]" + "[/tag" * 50_000, "<tag||None>" + "[/tag" * 50_000),
        # Every [tag] but the last has a tag in its content, so only the last encloses.
        ("[tag]x" * 30_000 + "[/tag]", "[tag]x" * 29_999 + "<tag||x>"),
        ("[" + "a" * 100_000 + " " * 100_000 + "!]", "[" + "a" * 100_000 + " " * 100_000 + "!]"),
    ],
    ids=lambda value: value[:12] if isinstance(value, str) else value,
)
def test_hostile_inputs_are_parsed_in_one_pass(register, message, shown):
    register("tag")
    assert expand_text(message) == shown
    assert len(expand_html(message)) >= len(shown)


# -- The registry -------------------------------------------------------------------------------


def test_the_registry_names_handlers_and_refuses_clashes():
    registry = ShortcodeRegistry()

    @registry.register()
    def user(shortcode: Shortcode, context: Any) -> str:
        return "u"

    @registry.register("team-name")
    def other(shortcode: Shortcode, context: Any) -> str:
        return "t"

    @registry.register
    def bare(shortcode: Shortcode, context: Any) -> str:
        return "b"

    assert registry.names() == ["bare", "team-name", "user"] and "user" in registry
    registry.register("user")(user)  # the same handler again is fine
    with pytest.raises(ValueError, match="already registered"):
        registry.register("user")(other)
    registry.register("user", replace=True)(other)
    assert registry.get("user") is other
    for bad in ("", "1st", "a b", "é", "x" * 65, "[x]"):
        with pytest.raises(ValueError, match="not a shortcode name"):
            registry.register(bad)(user)
    assert registry.unregister("user") is other and registry.unregister("user") is None
    assert "user" not in registry


def test_the_drf_name_is_the_same_registry():
    pytest.importorskip("rest_framework")
    from inbox.contrib.drf.serializers import SHORTCODES_REGISTRY

    assert SHORTCODES_REGISTRY is SHORTCODES


# -- Message templates: values are text -----------------------------------------------------------


def render(template: str, **values: Any) -> str:
    return MessageTemplate(template).render({"actor": None, "action": None, "target": None, "recipient": None,
                                             **values})


def test_values_never_become_tags(register):
    calls = register("user")
    # In the text, beside the template's own bracket, in a tag's content, closing it early.
    assert expand_text(render("{a} and [{b}]", a="[user id=1]", b="user id=2")) == "[user id=1] and [user id=2]"
    assert expand_text(render("[user]{a}[/user]", a="[/user][user id=3]")) == "<user||[/user][user id=3]>"
    assert calls[0][0].content == "[/user][user id=3]"
    # Inside a tag, a value is only ever an attribute's value, however it is quoted.
    assert expand_text(render("[user id={a}]", a="1 admin=yes")) == "<user|id=1 admin=yes|None>"
    assert expand_text(render("[user id='{a}']", a='x" admin="yes')) == '<user|id=x" admin="yes|None>'
    # A value that cannot be written into the tag makes the tag literal text instead.
    assert expand_text(render('[user id="{a}"]', a="\"'")) == "[user id=\"\"'\"]"
    assert expand_text(render("[user id={a}]", a="]x")) == "[user id=]x]"
    assert len(calls) == 3
    # The template's own tags and escapes are kept as written.
    assert render("[user id=7] says [[hi]] to {a}", a="[b]") == "[user id=7] says [[hi]] to [[b]]"


def test_a_template_without_fields_is_stored_as_written():
    assert render("[user id=7] [x ]]") == "[user id=7] [x ]]"
    assert render("{{[user]}}") == "{[user]}"


# -- End to end: a user cannot forge a shortcode ---------------------------------------------------


@pytest.fixture
def forged(register, bob) -> tuple[User, Calls]:
    """Mallory, whose name is itself a tag, comments a tag; the template's own tag expands."""
    calls = register("user", user_tag)
    mallory = User.objects.create_user("[user id=2]", password="pw")
    bob.email = "bob@example.org"
    bob.save()
    return mallory, calls


SHOWN = "[user id=2] said [user id=1] to "


def assert_forged_literal(html: str) -> None:
    assert SHOWN in html
    assert '<b class="who">USER#42</b>' in html
    assert "USER#1" not in html and "USER#2" not in html


def send_forged(mallory: User, bob: User, **kwargs: Any) -> Notification:
    [note] = notifier.send(
        "{actor} said {comment} to [user id=42]", [bob], actor=mallory, extra={"comment": "[user id=1]"}, **kwargs
    )
    return note


def test_the_pages_show_a_forged_tag_as_text(forged, bob, django_capture_on_commit_callbacks):
    mallory, calls = forged
    note = send_forged(mallory, bob)
    assert note.message == "[[user id=2]] said [[user id=1]] to [user id=42]"
    client = Client()
    client.force_login(bob)
    inbox = client.get(reverse("inbox:list")).content.decode()
    assert_forged_literal(inbox)
    assert f"Select “{SHOWN}USER#42”" in inbox  # the checkbox's label: text, tags reduced
    detail = client.get(reverse("inbox:detail", args=[note.uid])).content.decode()
    assert_forged_literal(detail)
    assert f"<title>{SHOWN}USER#42" in detail.replace("\n", "")
    preview = client.get(reverse("inbox:preview")).content.decode()
    # The bell's line is cut short (36 characters): the forged tags stay text, the real one is
    # in the tooltip, reduced to text.
    assert SHOWN in preview and "USER#1" not in preview and "USER#2" not in preview
    assert f'title="{SHOWN}USER#42"' in preview
    assert calls and all(call[1]["notification"] == note for call in calls)
    assert {call[0].attrs["id"] for call in calls} == {"42"}


def test_the_toast_and_the_event_carry_the_text(forged, bob, broker, django_capture_on_commit_callbacks):
    mallory, _calls = forged
    with broker.subscribe([f"auth.user:{bob.pk}"]) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            send_forged(mallory, bob)
        [event] = subscription.drain()
    [details] = event.details
    assert details["message"] == SHOWN + "USER#42"  # expanded text, not the stored form
    [toast] = InboxStream([bob]).toasts(list(event.details), [])
    html = toast.decode()
    # A toast shows text: the tag's HTML is reduced, and the forged tags are not read again.
    assert f"{SHOWN}USER#42" in html and "USER#1" not in html and "USER#2" not in html and "who" not in html


def test_the_email_shows_a_forged_tag_as_text(forged, bob, email_settings, django_capture_on_commit_callbacks):
    mallory, _calls = forged
    with django_capture_on_commit_callbacks(execute=True):
        send_forged(mallory, bob, channels=["email"])
    [mail] = email_settings.messages
    assert mail.message["Subject"] == SHOWN + "USER#42"
    assert mail.message.get_body(("plain",)).get_content().startswith(SHOWN + "USER#42")
    assert_forged_literal(mail.message.get_body(("html",)).get_content())


def test_channels_tables_admin_and_messages_show_the_text(forged, bob, settings):
    settings.INBOX = {"SITE_URL": "https://example.com"}
    mallory, _calls = forged
    note = send_forged(mallory, bob)
    text = SHOWN + "USER#42"
    assert notification_data(note, {})["message"] == text
    assert ConsoleProvider().build_payload(note, {})["message"] == text
    assert SlackProvider({"WEBHOOK_URL": "https://hooks.example"}).build_payload(note, {})["text"] == text
    assert describe(note)["message"] == text
    assert NotificationAdmin(Notification, None).shown_message(note) == text  # type: ignore[arg-type]
    assert str(PersistentMessage.from_notification(note)) == text
    assert_forged_literal(NotificationTable([note]).render_message(note))


def test_the_preview_cuts_html_without_breaking_a_tag(register, alice):
    register("user", user_tag)
    [note] = notifier.send("x" * 110 + " [user id=9] and more words past the end", alice)
    html = Template("{% load inbox %}{{ note|inbox_message|truncatechars_html:120 }}").render(Context({"note": note}))
    # 120 characters of text, the ellipsis included, and the tag the handler built kept whole.
    assert html == "x" * 110 + ' <b class="who">USER#9</b> a…'


def test_the_filters_show_other_objects_as_plain_text(register):
    from django.contrib.messages.storage.base import Message

    register("user", user_tag)
    rendered = Template("{% load inbox %}{{ m|inbox_message }}|{{ m|inbox_message_text }}|{{ s|inbox_message }}").render(
        Context({"m": Message(20, "[user id=1] <i>"), "s": "[user id=3]"})
    )
    assert rendered == '[user id=1] &lt;i&gt;|[user id=1] &lt;i&gt;|<b class="who">USER#3</b>'


def test_the_length_limit_counts_what_is_shown(settings, alice):
    settings.INBOX = {"MAX_MESSAGE_LENGTH": 20}
    [note] = notifier.send("{comment}", alice, extra={"comment": "[" * 20})
    assert len(note.message) == 40 and expand_text(note.message) == "[" * 20


# -- contrib.messages -----------------------------------------------------------------------------


def test_persistent_messages_and_conversations_show_the_text(register, alice, bob, settings):
    from django.contrib.messages.storage import default_storage
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    from django.template import RequestContext

    from inbox.contrib.messages import constants, sending

    settings.MESSAGE_STORAGE = "inbox.contrib.messages.storage.PersistentStorage"
    register("user", user_tag)
    [note] = notifier.send("[user id=5] asks {comment}", [alice], actor=bob, category=constants.CATEGORY,
                           extra={"comment": "[user id=1]"})
    request = RequestFactory().get("/page/")
    request.user = alice
    request.session = SessionStore()
    request._messages = default_storage(request)  # type: ignore[attr-defined]
    html = Template("{% load inbox_messages %}{% inbox_messages %}").render(RequestContext(request))
    assert '<b class="who">USER#5</b> asks [user id=1]' in html
    assert "Mark read: USER#5 asks [user id=1]" in html and "USER#1" not in html
    sending.reply(note, alice, "ok")  # a conversation lists its messages from two on
    client = Client()
    client.force_login(alice)
    detail = client.get(reverse("inbox:detail", args=[note.uid])).content.decode()
    conversation = detail[detail.index('id="inbox-conversation"'):]
    assert '<p class="inbox-conversation__text"><b class="who">USER#5</b> asks [user id=1]</p>' in conversation


def test_a_message_or_reply_text_is_never_read_for_tags(register, alice, bob):
    from inbox.contrib.messages import constants, sending

    register("user", user_tag)
    note = sending.create_message(bob, constants.INFO, "see [user id=1]", from_user=alice)
    assert note is not None
    assert expand_text(note.message) == "see [user id=1]"
