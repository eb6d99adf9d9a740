"""The admin of inbox.contrib.rules: triggers with subscriptions inline, templates that do not render
refused, the live preview (escaped, changes nothing), "send a test notification to me", failures
shown, and no way in for anyone who is not staff."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.dispatch import Signal
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inbox.contrib.rules import receivers, registry
from inbox.contrib.rules.models import Subscription, Trigger
from inbox.models import Notification
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PREVIEW = "admin:inbox_rules_subscription_preview"


@pytest.fixture
def admin_user(db: None) -> User:
    return User.objects.create_superuser("admin", password="pw")


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def trigger(db: None) -> Trigger:
    return Trigger.objects.create(name="Article changed", signal="post_save",
                                  sender=ContentType.objects.get_for_model(Article))


@pytest.fixture
def subscription(trigger: Trigger) -> Subscription:
    return Subscription.objects.create(trigger=trigger, template="{{ actor }} changed {{ instance }}",
                                       url_template="{{ instance.get_absolute_url }}")


@pytest.fixture
def site_signal() -> Iterator[str]:
    registry.register_signal("article_published", Signal())
    yield "article_published"
    registry.unregister_signal("article_published")


@pytest.fixture
def readers() -> Iterator[str]:
    @receivers("article_readers")
    def article_readers(*, instance: Any = None, **kwargs: Any) -> list[User]:
        return []

    yield "article_readers"
    registry.unregister_receivers("article_readers")


def inline_data(**subscription: Any) -> dict[str, Any]:
    """A Trigger change form's POST: one trigger, one new subscription inline."""
    data = {
        "name": "Article changed", "signal": "post_save", "sender": ContentType.objects.get_for_model(Article).pk,
        "created": "", "enabled": "on",
        "subscriptions-TOTAL_FORMS": "1", "subscriptions-INITIAL_FORMS": "0",
        "subscriptions-MIN_NUM_FORMS": "0", "subscriptions-MAX_NUM_FORMS": "1000",
        "subscriptions-0-enabled": "on", "subscriptions-0-level": "20",
    }
    data.update({f"subscriptions-0-{name}": value for name, value in subscription.items()})
    return data


# -- Triggers and subscriptions ------------------------------------------------------------------


def test_the_signal_is_a_list_of_djangos_five_and_the_registered_ones(admin_client: Client, site_signal: str) -> None:
    page = admin_client.get(reverse("admin:inbox_rules_trigger_add")).content.decode()
    for name in ("post_save", "pre_save", "post_delete", "pre_delete", "m2m_changed", site_signal):
        assert f'<option value="{name}"' in page
    assert "This site&#x27;s signals" in page or "This site's signals" in page
    # The add page offers one subscription inline, with users and groups as two-list pickers.
    assert 'name="subscriptions-0-template"' in page
    assert "selectfilter" in page.lower() or "SelectFilter" in page


def test_a_trigger_and_its_subscription_are_saved_from_one_page(admin_client: Client, admin_user: User,
                                                                  readers: str) -> None:
    response = admin_client.post(reverse("admin:inbox_rules_trigger_add"), inline_data(
        template="{{ actor }} edited {{ instance }}", dynamic_receivers=readers, users=[admin_user.pk],
        channels=["email"]))
    assert response.status_code == 302, response.content.decode()[:3000]
    subscription = Subscription.objects.get()
    assert subscription.trigger.name == "Article changed"
    assert (subscription.dynamic_receivers, subscription.channels) == (readers, ["email"])
    assert list(subscription.users.all()) == [admin_user]


@pytest.mark.parametrize(("template", "words"), [
    ("{% if %}", "The template has an error"),
    ("{% url 'no-such-page' %}", "The template does not render"),
    ("{{ actor.password }}", "hidden field"),
])
def test_a_template_that_does_not_render_is_refused_with_a_message(admin_client: Client, trigger: Trigger,
                                                                    template: str, words: str) -> None:
    response = admin_client.post(reverse("admin:inbox_rules_subscription_add"),
                                 {"trigger": trigger.pk, "template": template, "level": "20", "enabled": "on"})
    assert response.status_code == 200
    page = response.content.decode()
    assert words in page
    assert page.count(words) == 1  # said once, though the form and the model both check it
    assert not Subscription.objects.exists()


def test_a_bad_template_in_an_inline_is_refused_too(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:inbox_rules_trigger_add"), inline_data(template="{% for %}"))
    assert response.status_code == 200
    assert "The template has an error" in response.content.decode()
    assert not Trigger.objects.exists()


def test_unknown_dynamic_receivers_and_channels_are_refused(admin_client: Client, trigger: Trigger) -> None:
    response = admin_client.post(reverse("admin:inbox_rules_subscription_add"), {
        "trigger": trigger.pk, "template": "x", "level": "20", "dynamic_receivers": "nobody", "channels": ["pigeon"]})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors.keys() >= {"dynamic_receivers", "channels"}


def test_last_errors_are_shown_read_only_and_in_the_lists(admin_client: Client, subscription: Subscription) -> None:
    Subscription.objects.filter(pk=subscription.pk).update(
        last_error="TemplateSyntaxError: <b>bad</b> tag", last_error_at=timezone.now())
    listing = admin_client.get(reverse("admin:inbox_rules_subscription_changelist")).content.decode()
    assert "TemplateSyntaxError: &lt;b&gt;bad&lt;/b&gt; tag" in listing
    triggers = admin_client.get(reverse("admin:inbox_rules_trigger_changelist")).content.decode()
    assert "Article changed" in triggers
    page = admin_client.get(reverse("admin:inbox_rules_subscription_change", args=[subscription.pk])).content.decode()
    assert "TemplateSyntaxError: &lt;b&gt;bad&lt;/b&gt; tag" in page
    assert 'name="last_error"' not in page  # shown, not editable
    # A save from the form keeps it (it is the engine's to write).
    admin_client.post(reverse("admin:inbox_rules_subscription_change", args=[subscription.pk]),
                      {"trigger": subscription.trigger_id, "template": "x", "level": "20", "enabled": "on"})
    subscription.refresh_from_db()
    assert subscription.template == "x" and subscription.last_error.startswith("TemplateSyntaxError")


# -- The preview -----------------------------------------------------------------------------------


def test_the_preview_renders_the_unsaved_template_escaped(admin_client: Client, trigger: Trigger) -> None:
    Article.objects.create(title="Older")
    article = Article.objects.create(title="<b>Launch</b> & co")
    data = {"trigger": trigger.pk, "template": "{{ actor }} moved {{ instance }} ({{ model_name }})",
            "url_template": "{{ instance.get_absolute_url }}?x=<i>", "preview_instance": ""}
    response = admin_client.post(reverse(PREVIEW), data, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # a fragment for htmx to swap in
    assert "admin moved &lt;b&gt;Launch&lt;/b&gt; &amp; co (article)" in html  # the latest one, escaped
    assert f"/articles/{article.pk}/?x=&lt;i&gt;" in html
    assert "<b>" not in html and "<i>" not in html


def test_the_preview_uses_the_chosen_object_and_works_without_htmx(admin_client: Client, trigger: Trigger) -> None:
    older = Article.objects.create(title="Older")
    Article.objects.create(title="Newer")
    data = {"trigger": trigger.pk, "template": "About {{ instance }}", "preview_instance": str(older.pk)}
    page = admin_client.post(reverse(PREVIEW), data)
    assert page.status_code == 200
    assert "<html" in page.content.decode() and "About Older" in page.content.decode()  # a page of its own
    # A GET does the same (nothing changes either way).
    assert "About Older" in admin_client.get(reverse(PREVIEW), data, **HTMX).content.decode()
    assert not Notification.objects.exists()


@pytest.mark.parametrize(("data", "words"), [
    ({"template": "{% if %}"}, "The template has an error"),
    ({"template": "{{ actor.password }}"}, "hidden field"),
    ({"template": "", "template_name": "no/such/template.txt"}, "does not render"),
    ({"template": "x", "preview_instance": "abc"}, "No article has the key"),
    ({"template": "x", "trigger": ""}, "Choose a trigger"),
])
def test_the_preview_says_what_is_wrong(admin_client: Client, trigger: Trigger, data: dict[str, str], words: str) -> None:
    Article.objects.create(title="One")
    response = admin_client.post(reverse(PREVIEW), {"trigger": trigger.pk, **data}, **HTMX)
    assert response.status_code == 200
    assert words in response.content.decode()


def test_the_preview_without_objects_or_sender_says_so(admin_client: Client, trigger: Trigger, site_signal: str) -> None:
    html = admin_client.post(reverse(PREVIEW), {"trigger": trigger.pk, "template": "x"}, **HTMX).content.decode()
    assert "There is no article yet" in html
    custom = Trigger.objects.create(name="Published", signal=site_signal)
    html = admin_client.post(reverse(PREVIEW), {"trigger": custom.pk, "template": "x"}, **HTMX).content.decode()
    assert "no sender model" in html


def test_the_change_page_offers_the_preview_and_the_test(admin_client: Client, subscription: Subscription) -> None:
    page = admin_client.get(reverse("admin:inbox_rules_subscription_change", args=[subscription.pk])).content.decode()
    assert f'hx-post="{reverse(PREVIEW)}"' in page and f'formaction="{reverse(PREVIEW)}"' in page
    assert reverse("admin:inbox_rules_subscription_test", args=[subscription.pk]) in page
    assert "htmx" in page  # the admin page loads htmx itself
    # The first submit button of the form is a hidden Save, so Enter in a field saves, not previews.
    form = page[page.index('id="subscription_form"'):]
    assert form.index('name="_save"') < form.index(f'formaction="{reverse(PREVIEW)}"')


# -- Send a test notification to me ----------------------------------------------------------------


def test_the_action_sends_a_test_to_the_admin_only(admin_client: Client, admin_user: User, alice: User,
                                                   subscription: Subscription) -> None:
    subscription.users.add(alice)
    Article.objects.create(title="Older")
    Article.objects.create(title="Apollo <launch>")
    response = admin_client.post(reverse("admin:inbox_rules_subscription_changelist"), {
        "action": "send_test_to_me", "_selected_action": [subscription.pk]}, follow=True)
    assert response.status_code == 200
    [sent] = Notification.objects.all()
    assert Notification.objects.recipients([admin_user]).get() == sent  # the admin's inbox, nobody else's
    assert sent.category == "rules-test"
    page = response.content.decode()
    assert "admin changed Apollo &lt;launch&gt;" in page  # said in the admin's message, escaped
    assert reverse("inbox:detail", args=[sent.uid]) in page


def test_the_change_page_test_uses_the_chosen_object_and_is_post_only(admin_client: Client, admin_user: User,
                                                                      subscription: Subscription) -> None:
    older = Article.objects.create(title="Older")
    Article.objects.create(title="Newer")
    url = reverse("admin:inbox_rules_subscription_test", args=[subscription.pk])
    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url, {"preview_instance": str(older.pk), "template": "ignored: the saved one"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:inbox_rules_subscription_change", args=[subscription.pk])
    [sent] = Notification.objects.recipients([admin_user])
    assert "changed Older" in sent.message
    assert admin_client.post(reverse("admin:inbox_rules_subscription_test", args=[9999])).status_code in (302, 404)


def test_a_test_that_cannot_render_sends_nothing_and_says_why(admin_client: Client, subscription: Subscription) -> None:
    Subscription.objects.filter(pk=subscription.pk).update(template="{% if %}")
    Article.objects.create(title="One")
    response = admin_client.post(reverse("admin:inbox_rules_subscription_changelist"), {
        "action": "send_test_to_me", "_selected_action": [subscription.pk]}, follow=True)
    assert "no test sent" in response.content.decode()
    assert not Notification.objects.exists()


def test_a_test_without_any_object_says_so(admin_client: Client, subscription: Subscription) -> None:
    response = admin_client.post(reverse("admin:inbox_rules_subscription_test", args=[subscription.pk]), follow=True)
    assert "there is no article to test with" in response.content.decode()
    assert not Notification.objects.exists()


# -- Who may -------------------------------------------------------------------------------------------


def test_a_user_who_is_not_staff_gets_no_access(alice: User, subscription: Subscription) -> None:
    Article.objects.create(title="One")
    client = Client()
    client.force_login(alice)
    for url in (reverse("admin:inbox_rules_trigger_changelist"), reverse("admin:inbox_rules_subscription_changelist"),
                reverse(PREVIEW) + f"?trigger={subscription.trigger_id}&template=x",
                reverse("admin:inbox_rules_subscription_change", args=[subscription.pk])):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.post(reverse("admin:inbox_rules_subscription_test", args=[subscription.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.post(reverse(PREVIEW), {"trigger": subscription.trigger_id, "template": "{{ instance }}"}, **HTMX)
    assert response.status_code == 302 and b"One" not in response.content
    assert not Notification.objects.exists()


def test_staff_without_permission_on_rules_is_refused(subscription: Subscription) -> None:
    Article.objects.create(title="One")
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    client = Client()
    client.force_login(clerk)
    assert client.post(reverse(PREVIEW), {"trigger": subscription.trigger_id, "template": "x"}).status_code == 403
    assert client.post(reverse("admin:inbox_rules_subscription_test", args=[subscription.pk])).status_code in (403, 302)
    assert not Notification.objects.exists()
    # Allowed to view only: still no preview (it renders any template against any object) and no test.
    clerk.user_permissions.add(Permission.objects.get(codename="view_subscription"))
    client.force_login(User.objects.get(pk=clerk.pk))
    assert client.post(reverse(PREVIEW), {"trigger": subscription.trigger_id, "template": "x"}).status_code == 403
    assert client.post(reverse("admin:inbox_rules_subscription_test", args=[subscription.pk])).status_code == 403
    assert not Notification.objects.exists()


def test_groups_and_users_are_two_list_pickers(admin_client: Client, subscription: Subscription) -> None:
    Group.objects.create(name="Editors")
    page = admin_client.get(reverse("admin:inbox_rules_subscription_change", args=[subscription.pk])).content.decode()
    assert 'class="selectfilter"' in page and "Editors" in page
