"""inbox.contrib.rules: notifications from signals (Trigger → Subscription), register_signal, receivers, watch().

What a rule sends is decided inside ``save()`` from rules held in memory, recorded as JSON, and sent
after commit by one task per subscription. These tests run the commit callbacks explicitly
(``django_capture_on_commit_callbacks``) or use real transactions, so "nothing before commit" and
"nothing on rollback" are checked, not assumed. The two-process test with Redis is in
tests/test_contrib_rules_processes.py.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import signals as model_signals
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path

from inbox.contrib.rules import dispatch, index, receivers, register_signal, registry, rendering, tasks, unwatch, watch
from inbox.contrib.rules.middleware import CurrentUserMiddleware, acting_as
from inbox.contrib.rules.models import Subscription, Trigger
from inbox.models import Level, Notification
from inbox.shortcodes import expand_text
from tests.testapp.models import Article, Document

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_contrib_rules")]


# -- a view, for the actor taken from the request ------------------------------------------------


def rename_view(request: HttpRequest, pk: int) -> HttpResponse:
    document = Document.objects.get(pk=pk)
    document.title = request.POST["title"]
    document.save()
    return HttpResponse("saved")


urlpatterns = [path("documents/<int:pk>/rename/", rename_view)]


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_rules() -> Iterator[None]:
    """Each test reads the rules afresh, and leaves none behind in this process's memory."""
    index.reset()
    yield
    index.reset(assume_empty=True)
    dispatch.reconcile(index.EMPTY, prune=True)


def trigger(name: str = "documents", *, model: type[models.Model] | None = Document, signal: str = "post_save",
            **fields: Any) -> Trigger:
    sender = ContentType.objects.get_for_model(model) if model is not None else None
    return Trigger.objects.create(name=name, signal=signal, sender=sender, **fields)


def subscribe(on: Trigger, *users: User, template: str = "{{ instance }}", groups: tuple[Group, ...] = (),
              **fields: Any) -> Subscription:
    subscription = Subscription.objects.create(trigger=on, template=template, **fields)
    subscription.users.add(*users)
    subscription.groups.add(*groups)
    return subscription


def inbox_of(user: User) -> list[str]:
    """The messages ``user`` received, oldest first, as shown."""
    rows = Notification.objects.recipients([user]).order_by("pk")
    return [expand_text(n.message) for n in rows]


def only(user: User) -> Notification:
    [notification] = Notification.objects.recipients([user])
    return notification


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Any:
    """``with committed():`` runs the commit callbacks of what happens inside, as a commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def dave(db: None) -> User:
    return User.objects.create_user("dave", password="pw")


# -- firing --------------------------------------------------------------------------------------


def test_create_update_and_delete_fire_only_the_matching_subscriptions(alice, bob, carol, committed) -> None:
    subscribe(trigger("created", created=Trigger.Created.CREATED), alice, template="created {{ instance }}")
    subscribe(trigger("updated", created=Trigger.Created.UPDATED), bob, template="updated {{ instance }}")
    subscribe(trigger("deleted", signal="post_delete"), carol, template="deleted {{ instance.title }}")
    subscribe(trigger("articles", model=Article), alice, bob, carol, template="article {{ instance }}")

    with committed():
        document = Document.objects.create(title="Plan")
    assert (inbox_of(alice), inbox_of(bob), inbox_of(carol)) == (["created Plan"], [], [])

    with committed():
        document.title = "Plan B"
        document.save()
    assert (inbox_of(alice), inbox_of(bob), inbox_of(carol)) == (["created Plan"], ["updated Plan B"], [])

    with committed():
        document.delete()
    assert (inbox_of(alice), inbox_of(bob), inbox_of(carol)) == (["created Plan"], ["updated Plan B"],
                                                                 ["deleted Plan B"])


def test_disabled_triggers_and_subscriptions_send_nothing(alice, bob, carol, committed) -> None:
    subscribe(trigger("off", enabled=False), alice, template="trigger off")
    subscribe(trigger("on"), bob, template="subscription off", enabled=False)
    subscribe(trigger("on too"), carol, template="on")
    with committed():
        Document.objects.create(title="x")
    assert (inbox_of(alice), inbox_of(bob), inbox_of(carol)) == ([], [], ["on"])


def test_a_subscription_disabled_after_the_event_sends_nothing(alice, settings, committed) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    subscription = subscribe(trigger(), alice)
    with committed():
        Document.objects.create(title="x")  # queued, not run
    [result] = tasks.backend().results
    Subscription.objects.filter(pk=subscription.pk).update(enabled=False)
    assert tasks.run(*result.args) == {"skipped": 1}
    assert inbox_of(alice) == []


@pytest.fixture
def audience() -> Iterator[list[Any]]:
    """Dynamic receivers "audience": returns what the test puts in the list, and records its calls."""
    found: list[Any] = [None]
    calls: list[dict[str, Any]] = []

    @receivers("audience")
    def compute(*, instance: Any, **signal_kwargs: Any) -> Any:
        calls.append({"instance": instance, **signal_kwargs})
        return found[0]

    found.append(calls)
    yield found
    registry.unregister_receivers("audience")


def test_static_group_and_dynamic_receivers_are_combined_once_each(alice, bob, carol, dave, audience,
                                                                    committed) -> None:
    team = Group.objects.create(name="team")
    team.user_set.add(bob, carol)
    audience[0] = User.objects.filter(username__in=["carol", "dave"])  # a QuerySet of users
    subscribe(trigger(), alice, bob, groups=(team,), dynamic_receivers="audience", template="hello")
    with committed():
        document = Document.objects.create(title="x")
    assert [inbox_of(user) for user in (alice, bob, carol, dave)] == [["hello"]] * 4
    [call] = audience[1]
    assert call["instance"] == document and call["created"] is True and call["actor"] is None

    audience[0] = [dave, team, alice]  # a list: objects and a group
    with committed():
        document.save()
    assert [len(inbox_of(user)) for user in (alice, bob, carol, dave)] == [2, 2, 2, 2]


def test_changed_data_holds_only_changed_fields_never_password_nor_excluded_ones(alice, bob, committed) -> None:
    subscribe(trigger("users", model=User, created=Trigger.Created.UPDATED, exclude_fields="first_name"), bob,
              template="{% for field, pair in changed_data.items %}{{ field }}: {{ pair.0 }} → {{ pair.1 }};"
                       "{% endfor %}")
    with committed():
        alice.first_name = "Alice"
        alice.last_name = "Liddell"
        alice.email = "alice@example.com"
        alice.set_password("new secret")
        alice.save()
    note = only(bob)
    assert note.extra["changed_data"] == {"last_name": ["", "Liddell"]}
    assert note.extra["method"] == "update" and note.extra["model"] == "auth.user"
    assert expand_text(note.message) == "last_name:  → Liddell;"


def test_changed_data_of_a_documents_hidden_column_is_never_shown(alice, bob, committed) -> None:
    subscribe(trigger(created=Trigger.Created.UPDATED), bob, template="{{ changed_data|length }}")
    document = Document.objects.create(title="x")
    with committed():
        document.secret_note = "the combination"
        document.title = "y"
        document.save()
    assert only(bob).extra["changed_data"] == {"title": ["x", "y"]}
    assert "combination" not in str(only(bob).extra)


def test_update_fields_limit_changed_data_to_what_was_saved(bob, committed) -> None:
    subscribe(trigger(created=Trigger.Created.UPDATED), bob, template="saved")
    document = Document.objects.create(title="x", data={"a": 1})
    with committed():
        document.title = "y"
        document.data = {"a": 2}
        document.save(update_fields=["data"])
    assert only(bob).extra["changed_data"] == {"data": [{"a": 1}, {"a": 2}]}


def test_a_deleted_instance_renders_from_its_snapshot(alice, bob, committed) -> None:
    subscribe(trigger(signal="post_delete"), bob,
              template="{{ instance.title }} of {{ instance.owner }} (#{{ instance.pk }}) {{ method }}d")
    document = Document.objects.create(title="Plan", owner=alice, secret_note="hush")
    pk = document.pk
    with committed():
        document.delete()
    note = only(bob)
    assert expand_text(note.message) == f"Plan of alice (#{pk}) deleted"
    assert note.extra == {"model": "testapp.document", "instance": {"pk": pk, "repr": "Plan"}, "method": "delete",
                          "changed_data": {}}
    assert note.target_type_id is None and note.actor_type_id is None


def test_pre_delete_and_pre_save_triggers_fire_too(bob, committed) -> None:
    subscribe(trigger("before delete", signal="pre_delete"), bob, template="going: {{ instance }}")
    subscribe(trigger("before save", signal="pre_save", created=Trigger.Created.UPDATED), bob,
              template="saving: {{ changed_data.title.1 }}")
    document = Document.objects.create(title="x")
    with committed():
        document.title = "y"
        document.save()
        document.delete()
    assert inbox_of(bob) == ["saving: y", "going: y"]


def test_m2m_changed_fires_after_the_change(alice, bob, committed) -> None:
    team = Group.objects.create(name="team")
    subscribe(trigger(model=User, signal="m2m_changed"), bob, template="{{ instance }}: {{ action }} {{ pk_set }}")
    with committed():
        alice.groups.add(team)
    assert inbox_of(bob) == [f"alice: post_add [{team.pk}]"]


# -- transactions --------------------------------------------------------------------------------


def test_nothing_is_sent_inside_save_only_after_commit(alice, django_capture_on_commit_callbacks) -> None:
    subscribe(trigger(), alice, template="{{ instance }}")
    with django_capture_on_commit_callbacks() as callbacks:
        Document.objects.create(title="one")
        Document.objects.create(title="two")
        assert Notification.objects.count() == 0
    assert Notification.objects.count() == 0
    for callback in callbacks:
        callback()
    assert inbox_of(alice) == ["one", "two"]


def test_a_rolled_back_savepoint_takes_its_events_with_it(alice, committed) -> None:
    subscribe(trigger(), alice, template="{{ instance }}")
    with committed():
        Document.objects.create(title="kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            Document.objects.create(title="rolled back")
            raise RuntimeError
        with transaction.atomic():
            Document.objects.create(title="released")
    assert inbox_of(alice) == ["kept", "released"]


@pytest.mark.django_db(transaction=True)
def test_real_transactions_send_on_commit_and_nothing_on_rollback(alice, bob) -> None:
    subscribe(trigger(), bob, template="{{ instance }}")
    with pytest.raises(RuntimeError), transaction.atomic():
        Document.objects.create(title="rolled back")
        raise RuntimeError
    assert inbox_of(bob) == []
    with transaction.atomic():
        Document.objects.create(title="a")
        Document.objects.create(title="b")
        assert inbox_of(bob) == []
    assert inbox_of(bob) == ["a", "b"]
    Document.objects.create(title="autocommit")
    assert inbox_of(bob) == ["a", "b", "autocommit"]


# -- failures ------------------------------------------------------------------------------------


def test_failing_templates_and_receivers_never_break_the_save(alice, bob, carol, caplog, committed) -> None:
    @receivers("broken")
    def broken(**kwargs: Any) -> Any:
        raise LookupError("no audience today")

    try:
        on = trigger()
        bad_template = subscribe(on, alice, template="{% url 'no-such-view' %}")  # saved without clean()
        bad_receivers = subscribe(on, bob, template="fine", dynamic_receivers="broken")
        subscribe(on, carol, template="{{ instance }} is fine")
        with caplog.at_level(logging.ERROR, logger="inbox.rules"), committed():
            document = Document.objects.create(title="Plan")
        assert document.pk is not None and Document.objects.filter(pk=document.pk).exists()
        assert inbox_of(carol) == ["Plan is fine"] and inbox_of(alice) == inbox_of(bob) == []
        bad_template.refresh_from_db()
        bad_receivers.refresh_from_db()
        assert "NoReverseMatch" in bad_template.last_error and bad_template.last_error_at is not None
        assert "no audience today" in bad_receivers.last_error
        assert {r.name for r in caplog.records} == {"inbox.rules"}
        assert any(f"subscription #{bad_template.pk}" in r.getMessage() for r in caplog.records)
    finally:
        registry.unregister_receivers("broken")


def test_a_bad_attribute_path_is_logged_and_recorded_not_raised(alice, bob, caplog, committed) -> None:
    subscription = subscribe(trigger(actor_field="owner.nowhere"), bob)
    healthy = subscribe(trigger("other"), bob, template="still sent")
    with caplog.at_level(logging.ERROR, logger="inbox.rules"), committed():
        Document.objects.create(title="x", owner=alice)
    subscription.refresh_from_db()
    assert "nowhere" in subscription.last_error
    assert inbox_of(bob) == ["still sent"]
    assert any("nowhere" in record.getMessage() for record in caplog.records)
    healthy.refresh_from_db()
    assert healthy.last_error == ""


def test_a_method_is_not_an_attribute_path(alice, bob, committed) -> None:
    subscription = subscribe(trigger(actor_field="owner.get_full_name"), bob)
    with committed():
        Document.objects.create(title="x", owner=alice)
    subscription.refresh_from_db()
    assert "method" in subscription.last_error and inbox_of(bob) == []


# -- conditions, actor, target -------------------------------------------------------------------


def test_condition_field_compares_as_text(bob, committed) -> None:
    subscribe(trigger(condition_field="title", condition_value="Go"), bob, template="{{ instance }}")
    with committed():
        Document.objects.create(title="Stop")
        Document.objects.create(title="Go")
    assert inbox_of(bob) == ["Go"]


def test_changed_fields_fire_only_when_one_of_them_changed(bob, committed) -> None:
    subscribe(trigger(changed_fields="title, owner"), bob, template="{{ changed_data }}")
    document = Document.objects.create(title="x")  # a create changes nothing
    with committed():
        document.data = {"k": 1}
        document.save()
        document.title = "y"
        document.save()
    assert [n.extra["changed_data"] for n in Notification.objects.recipients([bob])] == [{"title": ["x", "y"]}]


def test_actor_and_target_fields(alice, bob, committed) -> None:
    subscribe(trigger(actor_field="owner", target_field="owner"), bob, template="{{ actor }} → {{ target }}")
    with committed():
        Document.objects.create(title="x", owner=alice)
    note = only(bob)
    assert expand_text(note.message) == "alice → alice"
    assert note.actor == alice and note.target == alice


def test_actor_field_reads_the_foreign_key_without_a_query(alice, bob) -> None:
    subscribe(trigger(actor_field="owner"), bob)
    document = Document.objects.create(title="x", owner_id=alice.pk)  # owner not loaded
    document.title = "y"
    with CaptureQueriesContext(connection) as queries:
        document.save()
    assert not [q for q in queries.captured_queries if "auth_user" in q["sql"]]


def test_the_actor_is_the_signed_in_user_of_the_request(alice, bob, settings, committed) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "inbox.contrib.rules.middleware.CurrentUserMiddleware"]
    subscribe(trigger(created=Trigger.Created.UPDATED), bob, template="{{ actor }} renamed it {{ instance }}")
    document = Document.objects.create(title="x")
    client = Client()
    client.force_login(alice)
    with committed():
        assert client.post(f"/documents/{document.pk}/rename/", {"title": "y"}).status_code == 200
    assert inbox_of(bob) == ["alice renamed it y"] and only(bob).actor == alice


def test_the_actor_from_acting_as_and_from_the_signal(alice, bob, carol, committed) -> None:
    subscribe(trigger(), bob, template="{{ actor|default:'nobody' }}")
    with committed():
        Document.objects.create(title="nobody")
        with acting_as(alice):
            Document.objects.create(title="alice")
        request = HttpRequest()
        request.user = carol
        CurrentUserMiddleware(lambda request: Document.objects.create(title="carol"))(request)
    assert inbox_of(bob) == ["nobody", "alice", "carol"]


def test_target_defaults_to_the_instance_and_the_link_renders(bob, committed) -> None:
    subscribe(trigger(), bob, url_template="/documents/{{ instance.pk }}/", category="docs", level=Level.WARNING)
    with committed():
        document = Document.objects.create(title="x")
    note = only(bob)
    assert note.target == document and note.url == f"/documents/{document.pk}/"
    assert (note.category, note.level) == ("docs", Level.WARNING)


def test_a_template_file_and_channels(bob, settings, committed) -> None:
    from inbox.models import Delivery

    settings.TEMPLATES = [{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader",
                                 {"rules/document.txt": "File: {{ instance }} ({{ method }})"})]},
    }]
    subscribe(trigger(), bob, template="", template_name="rules/document.txt", channels=["console"])
    with committed():
        Document.objects.create(title="x")
    assert inbox_of(bob) == ["File: x (create)"]
    assert list(Delivery.objects.values_list("channel", flat=True)) == ["console"]


def test_rendered_text_is_literal_never_a_shortcode_or_a_format_field(bob, committed) -> None:
    subscribe(trigger(), bob, template="{{ instance }}")
    with committed():
        Document.objects.create(title="[user id=1] {recipient.password} <b>")
    assert inbox_of(bob) == ["[user id=1] {recipient.password} <b>"]


# -- batches -------------------------------------------------------------------------------------


def test_events_of_one_transaction_make_one_task_per_subscription(alice, bob, settings, committed) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    first = subscribe(trigger("a"), alice)
    second = subscribe(trigger("b"), bob)
    with committed():
        for title in ("x", "y", "z"):
            Document.objects.create(title=title)
    results = tasks.backend().results
    assert sorted(r.args[0]["subscription"] for r in results) == [first.pk, second.pk]
    assert [len(r.args[1]) for r in results] == [3, 3]


def test_a_thousand_events_cost_a_bounded_number_of_queries_and_tasks(alice, bob, carol, settings, committed,
                                                                        django_capture_on_commit_callbacks) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    team = Group.objects.create(name="team")
    team.user_set.add(bob, carol)
    subscription = subscribe(trigger(actor_field="owner"), alice, bob, groups=(team,), template="{{ instance }}")
    with committed():
        Document.objects.create(title="warm-up")  # the rules are read once, before the timed part
    tasks.backend().clear()

    with CaptureQueriesContext(connection) as saving, django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            for number in range(1000):
                Document.objects.create(title=f"doc {number}", owner=alice)
    inserts = [q for q in saving.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1000  # dispatching added no query to save()
    assert len(saving.captured_queries) <= 1004  # the inserts, and the savepoints around the block
    for callback in callbacks:
        callback()
    [queued] = tasks.backend().results
    assert queued.args[0] == {"subscription": subscription.pk} and len(queued.args[1]) == 1000

    with CaptureQueriesContext(connection) as running:
        outcome = tasks.run(*queued.args)
    assert outcome == {"sent": 1, "failed": 0}
    assert len(running.captured_queries) <= 10, [q["sql"] for q in running.captured_queries]
    for user in (alice, bob, carol):
        note = only(user)
        assert expand_text(note.message) == "1,000 documents were created."
        assert note.extra["summary"] is True and note.extra["count"] == 1000 and len(note.extra["pks"]) == 1000
        assert note.actor == alice


def test_up_to_the_summary_limit_each_event_is_its_own_notification(bob, settings, committed) -> None:
    settings.INBOX = {"RULES_BATCH_SUMMARY": 2}
    subscribe(trigger(), bob, template="{{ instance }}")
    with committed(), transaction.atomic():
        Document.objects.create(title="a")
        Document.objects.create(title="b")
    with committed(), transaction.atomic():
        for title in "cde":
            Document.objects.create(title=title)
    assert inbox_of(bob) == ["a", "b", "3 documents were created."]


# -- a site's own signal, and dynamic receivers (seed 003's example) ------------------------------


movie_released = Signal()


@pytest.fixture
def movie_signal() -> Iterator[Signal]:
    register_signal("movie_released", movie_released)

    @receivers("movie_audience")
    def audience(*, instance: Any, **signal_kwargs: Any) -> Any:
        return User.objects.filter(username__in=signal_kwargs["audience"])

    yield movie_released
    registry.unregister_signal("movie_released")
    registry.unregister_receivers("movie_audience")


def test_a_registered_signal_with_dynamic_receivers(alice, bob, carol, movie_signal, committed) -> None:
    assert "movie_released" in dict(registry.signal_choices())
    on = trigger("releases", model=Article, signal="movie_released")
    subscribe(on, template="{{ actor }} released “{{ instance }}” ({{ rating }})", dynamic_receivers="movie_audience")
    movie = Article.objects.create(title="Metropolis")
    with committed():
        movie_released.send(sender=Article, instance=movie, actor=alice, rating=5, audience=["bob", "carol"])
        movie_released.send(sender=User, instance=alice, actor=alice, rating=1, audience=["bob"])  # no rule for User
    assert inbox_of(bob) == inbox_of(carol) == ["alice released “Metropolis” (5)"]
    assert inbox_of(alice) == []
    assert only(bob).actor == alice and only(bob).target == movie


def test_a_registered_signal_without_an_instance_reads_its_kwargs(alice, bob, movie_signal, committed) -> None:
    subscribe(trigger("any", model=None, signal="movie_released", condition_field="movie.title",
                      condition_value="M", actor_field="director"),
              bob, template="{{ movie }} by {{ actor }}")
    with committed():
        movie_released.send(sender=None, movie=Article.objects.create(title="M"), director=alice, audience=[])
        movie_released.send(sender=None, movie=Article.objects.create(title="N"), director=alice, audience=[])
    assert inbox_of(bob) == ["M by alice"]


def test_register_signal_refuses_a_taken_name(movie_signal) -> None:
    register_signal("movie_released", movie_released)  # the same again: fine
    with pytest.raises(ValueError):
        register_signal("movie_released", Signal())
    with pytest.raises(ValueError):
        register_signal("post_save", Signal())


# -- watch(): seed 002's model-change notifications ----------------------------------------------


@pytest.fixture
def readers(alice: User, bob: User) -> Iterator[None]:
    @receivers("document_readers")
    def document_readers(*, instance: Any, **kwargs: Any) -> Any:
        return [alice, bob] if instance is not None else []

    yield
    registry.unregister_receivers("document_readers")
    for rule in registry.watches():
        unwatch(rule)


def test_watch_stores_seed_002s_shape_in_extra(alice, bob, readers, committed) -> None:
    watch(Document, fields=("title", "owner"), receivers="document_readers", category="docs")
    with committed(), acting_as(alice):
        document = Document.objects.create(title="Plan", owner=alice)
    with committed():
        document.title = "Plan B"
        document.data = {"unwatched": True}
        document.save()
    with committed():
        document.data = {"only": "unwatched"}
        document.save()  # nothing watched changed: nothing sent
    pk = document.pk
    with committed():
        document.delete()
    extras = [n.extra for n in Notification.objects.recipients([bob]).order_by("pk")]
    assert extras == [
        {"model": "testapp.document", "instance": {"pk": pk, "repr": "Plan"}, "method": "create", "changed_data": {}},
        {"model": "testapp.document", "instance": {"pk": pk, "repr": "Plan B"}, "method": "update",
         "changed_data": {"title": ["Plan", "Plan B"]}},
        {"model": "testapp.document", "instance": {"pk": pk, "repr": "Plan B"}, "method": "delete",
         "changed_data": {}},
    ]
    assert inbox_of(bob) == ["Document “Plan” was created.", "Document “Plan B” was updated: title.",
                             "Document “Plan B” was deleted."]
    first = Notification.objects.recipients([bob]).order_by("pk").first()
    assert first is not None and first.actor == alice and first.category == "docs"


def test_watch_methods_exclude_and_message(alice, bob, readers, committed) -> None:
    watch(Document, methods=("update",), exclude=("data",), receivers="document_readers",
          message="{{ instance }}: {{ changed_data|length }} change(s)")
    with committed():
        document = Document.objects.create(title="a")
        document.data = {"x": 1}
        document.save()  # only an excluded field changed
        document.title = "b"
        document.save()
        document.delete()
    assert inbox_of(bob) == ["b: 1 change(s)"]


def test_watch_takes_a_function_as_its_receivers(bob, readers, committed) -> None:
    rule = watch(Article, methods=("create",), receivers=lambda **kwargs: [bob], message="new: {{ instance }}")
    assert registry.get_receivers(rule.receivers)(instance=None) == [bob]
    with committed():
        Article.objects.create(title="Hello")
    assert inbox_of(bob) == ["new: Hello"]
    registry.unregister_receivers(rule.receivers)


def test_watch_connects_the_delete_signal_for_its_model_only(readers) -> None:
    assert not model_signals.post_delete.has_listeners(Document)
    watch(Document, methods=("delete",), receivers="document_readers")
    assert model_signals.post_delete.has_listeners(Document)
    assert not model_signals.post_delete.has_listeners(Article)  # Article keeps Django's fast delete
    assert not model_signals.pre_delete.has_listeners(Article)


def test_delete_triggers_connect_their_model_only(bob, committed) -> None:
    assert not model_signals.post_delete.has_listeners(Document)
    subscribe(trigger(signal="post_delete"), bob)
    # Connected when the trigger is saved, so the next delete in this process is seen.
    assert ("post_delete", "testapp.document") in dispatch.connected_per_model()
    assert not model_signals.post_delete.has_listeners(Article)
    index.reset()
    dispatch.reconcile(index.EMPTY, prune=True)
    assert not model_signals.post_delete.has_listeners(Document)
    Document.objects.create(title="x")  # any signal reads the rules, and connects what they need
    assert model_signals.post_delete.has_listeners(Document)


# -- the rules in memory ------------------------------------------------------------------------


def test_rules_are_read_once_and_then_cost_no_query(bob, settings) -> None:
    settings.INBOX = {"RULES_CACHE_SECONDS": 3600}
    subscribe(trigger(), bob)
    index.bump()  # as if committed: this thread now uses the committed rules
    index._state.local = type(index._state.local)()
    loads = index.loads()
    Document.objects.create(title="first")
    assert index.loads() == loads + 1
    with CaptureQueriesContext(connection) as queries:
        document = Document.objects.create(title="second")
    assert [q["sql"] for q in queries.captured_queries if "inbox_rules" in q["sql"]] == []
    assert index.loads() == loads + 1
    document.save()
    assert index.loads() == loads + 1


def test_reading_the_rules_takes_two_queries_however_many_there_are(alice) -> None:
    for number in range(5):
        on = trigger(f"t{number}", model=Article if number % 2 else Document)
        for _ in range(3):
            subscribe(on, alice)
    with CaptureQueriesContext(connection) as queries:
        rules = index.load()
    assert rules is not None and len(rules.triggers) == 5
    assert [len(t.subscriptions) for t in rules.triggers] == [3] * 5
    assert len([q for q in queries.captured_queries if "inbox_rules" in q["sql"]]) == 2


def test_another_process_moving_the_version_reloads_the_rules(bob, settings) -> None:
    settings.INBOX = {"RULES_CACHE_SECONDS": 0}
    subscribe(trigger(), bob)
    index.bump()
    index._state.local = type(index._state.local)()
    Document.objects.create(title="x")
    loads = index.loads()
    Document.objects.create(title="y")
    assert index.loads() == loads  # same version: no reload
    caches["default"].set(index.VERSION_KEY, "moved by another process", None)
    Document.objects.create(title="z")
    assert index.loads() == loads + 1


def test_the_version_is_read_at_most_every_rules_cache_seconds(bob, settings, monkeypatch) -> None:
    settings.INBOX = {"RULES_CACHE_SECONDS": 30}
    clock = [1000.0]
    monkeypatch.setattr(index.time, "monotonic", lambda: clock[0])
    index.reset()
    Document.objects.create(title="loads")
    loads = index.loads()
    caches["default"].set(index.VERSION_KEY, "moved", None)
    clock[0] += 29
    Document.objects.create(title="not yet")
    assert index.loads() == loads
    clock[0] += 2
    Document.objects.create(title="now")
    assert index.loads() == loads + 1


def test_a_rule_edit_applies_in_its_own_transaction_before_commit(alice, bob) -> None:
    on = trigger()
    subscription = subscribe(on, bob, template="first")
    assert [t.id for t in index.current().triggers] == [on.pk]
    subscription.template = "second"
    on.enabled = False
    on.save()
    assert index.current().triggers == []


def test_an_uncommitted_rule_edit_is_not_seen_by_other_threads(alice) -> None:
    import threading

    subscribe(trigger(), alice)  # uncommitted (the test's transaction)
    assert index.current().triggers  # this thread sees it
    seen: list[Any] = []

    def other() -> None:
        seen.append(index._pending_edits())

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == [()]


def test_a_rolled_back_rule_edit_is_forgotten(alice, committed) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        subscribe(trigger(), alice)
        assert index.current().triggers
        raise RuntimeError
    assert index.current().triggers == []
    with committed():
        Document.objects.create(title="x")
    assert inbox_of(alice) == []


def test_missing_tables_read_as_no_rules_without_breaking_the_transaction(monkeypatch) -> None:
    from inbox.contrib.rules.models import Trigger as TriggerModel

    monkeypatch.setattr(TriggerModel._meta, "db_table", "no_such_table")
    with transaction.atomic():
        assert index.load() is None
        assert Document.objects.create(title="still fine").pk  # the transaction is usable


# -- for the admin: validation, preview, test notification ----------------------------------------


@pytest.mark.parametrize("text", [
    "{% if %}",
    "{{ instance.title|nosuchfilter }}",
    "{% url 'no-such-view' %}",
    "{% include 'no/such/template.html' %}",
    "{{ actor.password }}",
    "{{ instance.owner.email }}",
    "{% for k in actor.get_session_auth_hash %}{% endfor %}",
    "{% with x=actor %}{{ x.password }}{% endwith %}",
    "{{ instance|default:actor.password }}",
])
def test_validate_template_refuses(text: str) -> None:
    with pytest.raises(ValidationError):
        rendering.validate_template(text)


def test_validate_template_accepts() -> None:
    assert rendering.validate_template("{{ actor }} changed {{ instance.title }}: "
                                       "{% for f, pair in changed_data.items %}{{ f }}={{ pair.1 }}{% endfor %}") is None


def test_preview_renders_as_if_the_user_updated_the_instance(alice, bob) -> None:
    subscription = subscribe(trigger(), template="{{ actor }} updated {{ instance }}: {{ changed_data }}")
    document = Document.objects.create(title="Plan")
    assert rendering.preview(subscription, document, alice) == "alice updated Plan: {}"
    document.title = "Plan B"  # not saved: the preview shows the change
    assert rendering.preview("{{ method }} {{ changed_data.title.0 }}→{{ changed_data.title.1 }}", document,
                             bob) == "update Plan→Plan B"
    with pytest.raises(ValidationError):
        rendering.preview("{% url 'nowhere' %}", document, bob)


def test_send_test_sends_to_the_user_only_now(alice, bob) -> None:
    subscription = subscribe(trigger(), bob, template="{{ actor }} touched {{ instance }}",
                             url_template="/d/{{ instance.pk }}/")
    document = Document.objects.create(title="Plan")
    Notification.objects.all().delete()
    note = dispatch.send_test(subscription, document, alice)
    assert expand_text(note.message) == "alice touched Plan"
    assert note.category == "rules-test" and note.url == f"/d/{document.pk}/"
    assert note.extra["rule"] == {"subscription": subscription.pk, "test": True}
    assert list(Notification.objects.values_list("pk", flat=True)) == [note.pk]
    assert inbox_of(bob) == []


def test_trigger_and_subscription_clean() -> None:
    with pytest.raises(ValidationError) as error:
        Trigger(name="x", signal="no_such_signal").full_clean()
    assert "signal" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        Trigger(name="x", signal="post_save").full_clean()
    assert "sender" in error.value.message_dict
    document_type = ContentType.objects.get_for_model(Document)
    with pytest.raises(ValidationError) as error:
        Trigger(name="x", signal="post_save", sender=document_type, changed_fields="title, nope",
                actor_field="owner.password", condition_field="summary_").full_clean()
    assert set(error.value.message_dict) == {"changed_fields", "actor_field", "condition_field"}
    Trigger(name="x", signal="post_save", sender=document_type, changed_fields="title", actor_field="owner",
            condition_field="summary").full_clean()

    on = trigger()
    with pytest.raises(ValidationError) as error:
        Subscription(trigger=on, template="{% url 'nowhere' %}", dynamic_receivers="nobody",
                     channels=["no-such-channel"], url_template="{{ actor.email }}").full_clean()
    assert set(error.value.message_dict) == {"template", "dynamic_receivers", "channels", "url_template"}
    Subscription(trigger=on, template="{{ instance }}").full_clean()


# -- system checks and startup -------------------------------------------------------------------


def test_checks_warn_about_a_per_process_cache_and_bad_watch_rules(settings, readers) -> None:
    from inbox.contrib.rules import checks

    settings.DEBUG = False
    assert [m.id for m in checks.check_cache()] == ["inbox_rules.W001"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1"}}
    assert checks.check_cache() == []
    settings.INBOX = {"RULES_CACHE": "nope"}
    assert [m.id for m in checks.check_cache()] == ["inbox_rules.E002"]
    watch(Document, fields=("nope",), receivers="document_readers", message="{% if %}", name="bad")
    watch(Document, receivers="nobody", name="worse")
    assert [m.id for m in checks.check_watches()] == ["inbox_rules.E001"] * 3


def test_check_runs_on_a_database_that_was_never_migrated(tmp_path: Path) -> None:
    database = tmp_path / "never-migrated.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": f"sqlite:///{database}",
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "django", "check", "--fail-level", "ERROR"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "System check identified" in result.stdout + result.stderr
    # No query ran: the database file was never created, or holds no table.
    if database.exists():
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_the_package_imports_no_model() -> None:
    code = ("import django.conf as c; c.settings.configure(); import inbox.contrib.rules as r; "
            "from inbox.contrib.rules import register_signal, receivers, watch; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.django_db(transaction=True)
def test_two_subscriptions_of_one_save_outside_a_transaction(alice, bob):
    """Regression: in autocommit, the first subscription's event flushed the batch and the second was lost."""
    from django.contrib.contenttypes.models import ContentType

    from inbox.contrib.rules.models import Subscription, Trigger
    from inbox.models import Notification
    from tests.testapp.models import Article

    trigger = Trigger.objects.create(name="t", signal="post_save", sender=ContentType.objects.get_for_model(Article))
    for user in (alice, bob):
        Subscription.objects.create(trigger=trigger, template="x").users.add(user)
    Article.objects.create(title="a")
    assert sorted(Notification.objects.values_list("recipient_id", flat=True)) == sorted([str(alice.pk), str(bob.pk)])


@pytest.mark.django_db(transaction=True)
def test_a_pre_save_rule_on_a_new_row_renders_the_instance(alice):
    """Regression: a new row has no pk at pre_save, and the message rendered without its instance."""
    from django.contrib.contenttypes.models import ContentType

    from inbox.contrib.rules.models import Subscription, Trigger
    from inbox.models import Notification
    from tests.testapp.models import Article

    trigger = Trigger.objects.create(name="t", signal="pre_save", sender=ContentType.objects.get_for_model(Article))
    Subscription.objects.create(trigger=trigger, template="{{ instance.title }} is coming").users.add(alice)
    Article.objects.create(title="Apollo")
    assert list(Notification.objects.values_list("message", flat=True)) == ["Apollo is coming"]


@pytest.mark.django_db(transaction=True)
def test_rules_tasks_go_to_their_own_backend_when_one_is_named(alice, settings):
    from django.contrib.contenttypes.models import ContentType

    from inbox.contrib.rules.models import Subscription, Trigger
    from inbox.models import Notification
    from tests.testapp.models import Article

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"},  # keeps tasks, runs none
        "rules": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
    }
    trigger = Trigger.objects.create(name="t", signal="post_save", sender=ContentType.objects.get_for_model(Article))
    Subscription.objects.create(trigger=trigger, template="{{ instance.title }}").users.add(alice)
    Article.objects.create(title="waits for a worker")
    assert not Notification.objects.exists()
    settings.INBOX = {"RULES_TASK_BACKEND": "rules"}
    Article.objects.create(title="right away")
    assert list(Notification.objects.values_list("message", flat=True)) == ["right away"]


@pytest.mark.django_db
def test_a_template_reads_only_what_a_message_may(alice, bob):
    """Regression: the template language reached methods, properties, managers and reverse relations
    (password hashes, e-mails, a hidden column). Objects are now behind rendering.Visible."""
    from django.contrib.auth.models import Group
    from django.template import Engine

    from inbox.contrib.rules import rendering
    from tests.testapp.models import Document

    bob.email = "bob-secret@example.com"
    bob.save()
    team = Group.objects.create(name="team")
    team.user_set.add(alice, bob)
    document = Document.objects.create(title="Plans", owner=bob, secret_note="TOPSECRET")
    context = rendering.build_context(instance=document, sender=Document, actor=alice, target=document,
                                      created=False, method="update", changed_data={})
    leaks = [
        "{% for u in actor.groups.all.0.user_set.values %}{% for k, v in u.items %}{{ k }}={{ v }};{% endfor %}{% endfor %}",
        "{{ instance.owner.documents.values_list }}",
        "{{ instance.summary }}",
        "{{ instance.owner.get_session_auth_hash }}",
        "{{ sender.objects.all }}",
    ]
    for text in leaks:
        shown = rendering.render(Engine().from_string(text), context)
        assert "TOPSECRET" not in shown and "bob-secret" not in shown and "md5$" not in shown, (text, shown)
    allowed = "{{ actor }} on {{ instance.title }} of {{ instance.owner }} ({{ instance.owner.username }}, {{ sender }})"
    assert rendering.render(Engine().from_string(allowed), context) == "alice on Plans of bob (bob, document)"


@pytest.mark.django_db(transaction=True)
def test_a_pre_save_rule_in_autocommit_waits_for_the_write(alice, bob):
    """Regression: in autocommit a pre_save rule rendered before the row was written, and sent even
    when the save then failed."""
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType
    from django.db import IntegrityError

    from inbox.contrib.rules.models import Subscription, Trigger
    from inbox.models import Notification
    from tests.testapp.models import Article

    for model, template in ((Article, "{{ instance.title }} ({{ method }})"), (User, "user {{ instance.username }} saved")):
        trigger = Trigger.objects.create(name=model.__name__, signal="pre_save", sender=ContentType.objects.get_for_model(model))
        Subscription.objects.create(trigger=trigger, template=template).users.add(bob)
    article = Article.objects.create(title="new")
    article.title = "renamed"
    article.save()
    with pytest.raises(IntegrityError):
        User(username="alice").save()  # taken: the save fails, and nothing may be sent for it
    assert sorted(Notification.objects.values_list("message", flat=True)) == ["new (create)", "renamed (update)"]


@pytest.mark.django_db
def test_a_model_keyed_by_a_secret_cannot_be_a_sender():
    """Regression: a Trigger on DRF's Token put token keys in messages, extra and the admin preview."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.exceptions import ValidationError
    from rest_framework.authtoken.models import Token

    from inbox.contrib.rules.models import Trigger

    trigger = Trigger(name="t", signal="post_save", sender=ContentType.objects.get_for_model(Token))
    with pytest.raises(ValidationError) as refused:
        trigger.full_clean()
    assert "sender" in refused.value.message_dict


def test_a_summary_tells_each_dynamic_receiver_only_about_its_own_rows(alice, bob, carol, settings, committed) -> None:
    """Regression: past the summary limit, every dynamic receiver got one summary of all the events,
    counting (and listing the keys of) other people's rows."""
    settings.INBOX = {"RULES_BATCH_SUMMARY": 2}

    @receivers("document_owner")
    def owner(*, instance, **kwargs):
        return [instance.owner] if instance is not None and instance.owner is not None else []

    try:
        subscribe(trigger(), carol, template="{{ instance }}", dynamic_receivers="document_owner")
        with committed(), transaction.atomic():
            mine = [Document.objects.create(title=f"a{n}", owner=alice) for n in range(3)]
            theirs = [Document.objects.create(title=f"b{n}", owner=bob) for n in range(4)]
    finally:
        registry.unregister_receivers("document_owner")
    for user, rows in ((alice, mine), (bob, theirs)):
        note = only(user)
        assert note.extra["count"] == len(rows) and sorted(note.extra["pks"]) == sorted(d.pk for d in rows)
    assert only(carol).extra["count"] == 7  # a static receiver hears about everything


def test_refresh_reads_the_rules_and_listens_on_the_models_they_name(bob, committed) -> None:
    from inbox.contrib.rules import dispatch, index

    subscribe(trigger(signal="post_delete"), bob, template="{{ instance }} deleted")
    index.reset()  # as in a fresh process: nothing read yet
    before = index.loads()
    dispatch.refresh()
    assert index.loads() == before + 1
    assert ("post_delete", "testapp.document") in dispatch.connected_per_model()
