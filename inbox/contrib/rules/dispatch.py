"""From a signal to a task: the dispatcher, the per-transaction batch, and ``send_test``.

``connect()`` (called once by the app's ``ready()``, with no query) connects one receiver per signal:

- ``pre_save`` and ``post_save`` for every sender (Django keeps no fast path that their listeners cost);
- ``pre_delete``, ``post_delete`` and ``m2m_changed`` only for the models some rule names, connected
  when the rules are read (a listener on every model would take Django's fast delete and fast m2m
  add from all of them);
- each registered signal (``register_signal``) for every sender.

A receiver never raises into ``save()`` and runs no work there: it matches the rules in memory
(:mod:`inbox.contrib.rules.index`), evaluates their conditions on the instance, and records an event
(JSON data) in a batch kept per database connection and transaction. When the transaction commits,
the batch enqueues one task per rule (:mod:`inbox.contrib.rules.tasks`); a rollback drops it, and a
savepoint that is rolled back drops the events recorded inside it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.signals import request_started
from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction
from django.db.models import signals as model_signals
from django.dispatch import Signal
from django.utils import timezone

from inbox import conf
from inbox.contrib.rules import capture, index, registry
from inbox.contrib.rules.capture import PathError
from inbox.contrib.rules.index import Index, TriggerRule
from inbox.contrib.rules.registry import WatchRule

if TYPE_CHECKING:
    from inbox.contrib.rules.models import Subscription
    from inbox.models import Notification

logger = logging.getLogger("inbox.rules")

#: Apps whose models never fire rules: the kit's own rows (a rule on them could feed itself), and
#: Django's bookkeeping.
IGNORED_APPS = frozenset({"inbox", "inbox_rules", "inbox_messages", "contenttypes", "sessions", "migrations",
                          "django_tasks_database"})
#: Signal kwargs that are not data for the template (or are the instance, kept apart).
_SIGNAL_ONLY = frozenset({"signal", "sender", "instance", "raw", "using", "update_fields", "origin"})

#: Where a pre_save made in autocommit waits for its post_save (see _dispatch).
_DEFERRED = "_inbox_rules_deferred"

_connected = False
_lock = threading.RLock()
#: (signal name, model label) -> model, of the per-model receivers connected now.
_per_model: dict[tuple[str, str], type[models.Model]] = {}


# -- Connecting ---------------------------------------------------------------------------------


def connect() -> None:
    """Connect the dispatcher (once; no query). Called by ``RulesConfig.ready()``."""
    global _connected
    from inbox.contrib.rules.models import Subscription, Trigger

    with _lock:
        if _connected:
            return
        _connected = True
        for name in ("pre_save", "post_save"):
            registry.MODEL_SIGNALS[name].connect(_receiver(name), weak=False, dispatch_uid=registry.dispatch_uid(name))
        for name, signal in registry.signals().items():
            if not registry.is_model_signal(name):
                _connect_registered(name, signal)
        registry._on_register.append(_connect_registered)
        registry._on_watch.append(_connect_watch)
        for rule in registry.watches():
            _connect_watch(rule)
        # An edit of the rules themselves: this thread reads them afresh, every process once it commits.
        for model in (Trigger, Subscription):
            model_signals.post_save.connect(_rules_changed, sender=model, dispatch_uid=f"inbox.rules.edit.{model.__name__}")
            model_signals.post_delete.connect(_rules_changed, sender=model,
                                              dispatch_uid=f"inbox.rules.edit.delete.{model.__name__}")
        for through in (Subscription.users.through, Subscription.groups.through):
            model_signals.m2m_changed.connect(_rules_changed, sender=through,
                                              dispatch_uid=f"inbox.rules.edit.m2m.{through.__name__}")
        # A process that serves requests learns about rule edits (and delete rules) at its next request too.
        request_started.connect(_refresh, dispatch_uid="inbox.rules.refresh")


def _connect_registered(name: str, signal: Signal) -> None:
    if _connected:
        signal.connect(_receiver(name), weak=False, dispatch_uid=registry.dispatch_uid(name))


def _connect_watch(rule: WatchRule) -> None:
    if not _connected:
        return
    if "delete" in rule.methods:
        try:
            model = apps.get_model(rule.model)
        except LookupError:
            logger.error("watch() names the model %r, which is not installed.", rule.model)
            return
        _connect_model(("post_delete",), model)


def _connect_model(names: tuple[str, ...], model: type[models.Model]) -> None:
    label = model._meta.label_lower
    with _lock:
        for name in names:
            if (name, label) in _per_model:
                continue
            registry.MODEL_SIGNALS[name].connect(_receiver(name), sender=model, weak=False,
                                                 dispatch_uid=f"{registry.dispatch_uid(name)}:{label}")
            _per_model[(name, label)] = model


def _m2m_throughs(model: type[models.Model]) -> list[type[models.Model]]:
    throughs = [field.remote_field.through for field in model._meta.many_to_many]
    throughs += [getattr(relation, "through", None) for relation in model._meta.related_objects
                 if relation.many_to_many]
    return [through for through in throughs if isinstance(through, type)]


def _needed(rules: Index) -> dict[tuple[str, str], type[models.Model]]:
    """(signal, model label) -> model of the per-model receivers ``rules`` and the watch() rules need."""
    needed: dict[tuple[str, str], type[models.Model]] = {}
    for trigger in rules.triggers:
        if trigger.signal not in ("pre_delete", "post_delete", "m2m_changed") or trigger.model is None:
            continue
        try:
            model = apps.get_model(trigger.model)
        except LookupError:
            continue
        if trigger.signal == "m2m_changed":
            for through in _m2m_throughs(model):
                needed[("m2m_changed", through._meta.label_lower)] = through
        else:
            needed[(trigger.signal, model._meta.label_lower)] = model
    for rule in registry.watches():
        if "delete" in rule.methods:
            try:
                model = apps.get_model(rule.model)
            except LookupError:
                continue
            needed[("post_delete", model._meta.label_lower)] = model
    return needed


def reconcile(rules: Index, *, prune: bool = False) -> None:
    """Connect the per-model receivers (delete and m2m signals) ``rules`` need; with ``prune``, also
    disconnect those no rule needs any more (Django's fast delete comes back for that model)."""
    needed = _needed(rules)
    for (name, _label), model in needed.items():
        _connect_model((name,), model)
    if prune:
        with _lock:
            for (name, label), model in list(_per_model.items()):
                if (name, label) not in needed:
                    registry.MODEL_SIGNALS[name].disconnect(sender=model,
                                                            dispatch_uid=f"{registry.dispatch_uid(name)}:{label}")
                    del _per_model[(name, label)]


def _rules_changed(sender: Any, using: str | None = None, **kwargs: Any) -> None:
    if kwargs.get("raw") or kwargs.get("action", "post_").startswith("pre_"):
        return
    try:
        _note_change(using, kwargs)
    except Exception:  # never break the save of a rule
        logger.exception("Could not note a change of the notification rules; call inbox.contrib.rules.index.bump().")


def _note_change(using: str | None, kwargs: dict[str, Any]) -> None:
    index.rules_changed(using)
    trigger: Any = kwargs.get("instance")
    if kwargs.get("signal") is model_signals.post_save and getattr(trigger, "sender_id", None) is not None:
        # A trigger on a delete or m2m signal: connect its model now, not at the next reload, so the
        # very next delete in this process is seen. (Only connects; reloads prune.)
        try:
            from django.contrib.contenttypes.models import ContentType

            model = ContentType.objects.db_manager(using).get_for_id(trigger.sender_id).model_class()
        except Exception:
            model = None
        if model is not None and trigger.signal in ("pre_delete", "post_delete"):
            _connect_model((trigger.signal,), model)
        elif model is not None and trigger.signal == "m2m_changed":
            for through in _m2m_throughs(model):
                _connect_model(("m2m_changed",), through)


def _refresh(**kwargs: Any) -> None:
    try:
        _current()
    except Exception:
        logger.exception("Could not read the notification rules.")


def refresh() -> None:
    """Read the rules now (if they moved) and listen on the models they name: for a worker or a
    management command whose first write may be a delete (docs/rules.md, "Known limits")."""
    _current()


def _current() -> Index:
    rules = index.current()
    if rules is not getattr(_current, "reconciled", None):
        # Rules read inside a transaction with an uncommitted edit only add receivers.
        reconcile(rules, prune=index.is_committed(rules))
        _current.reconciled = rules  # type: ignore[attr-defined]
    return rules


# -- Receiving ----------------------------------------------------------------------------------


_receivers: dict[str, Callable[..., None]] = {}


def _receiver(name: str) -> Callable[..., None]:
    """One receiver function per signal name (the same object for every sender it is connected to)."""
    if name not in _receivers:
        def receive(sender: Any, **kwargs: Any) -> None:
            try:
                _dispatch(name, sender, kwargs)
            except Exception:
                logger.exception("Notification rules could not handle %s from %r; nothing was sent for it.",
                                 name, sender)

        receive.__qualname__ = f"rules_dispatch_{name}"
        _receivers[name] = receive
    return _receivers[name]


def _model_of(sender: Any) -> type[models.Model] | None:
    return sender if isinstance(sender, type) and issubclass(sender, models.Model) else None


def _labels(model: type[models.Model] | None) -> tuple[str | None, ...]:
    if model is None:
        return ()
    meta = model._meta
    if meta.proxy and meta.concrete_model is not None:
        return (meta.label_lower, meta.concrete_model._meta.label_lower)
    return (meta.label_lower,)


def _dispatch(name: str, sender: Any, kwargs: dict[str, Any]) -> None:
    if kwargs.get("raw"):  # fixtures being loaded
        return
    instance = kwargs.get("instance")
    if not isinstance(instance, models.Model):
        instance = None
    model: type[models.Model] | None
    if name == "m2m_changed":
        if not str(kwargs.get("action", "")).startswith("post_") or instance is None:
            return
        model = type(instance)
    elif name in registry.MODEL_SIGNALS:
        model = _model_of(sender)
        if model is None or instance is None:
            return
    else:
        model = _model_of(sender) or (type(instance) if instance is not None else None)
    if model is not None and model._meta.app_label in IGNORED_APPS:
        return
    labels = _labels(model)
    rules = _current()
    before = None
    if instance is not None:
        if name == "pre_save":
            assert model is not None
            _read_before(rules, model, instance, labels, kwargs)
            before = instance.__dict__.get(capture.BEFORE)
        elif name == "post_save":
            before = instance.__dict__.pop(capture.BEFORE, None)
    triggers = rules.triggers_for(name, labels)
    watches = _watches_for(name, labels, kwargs) if name in ("post_save", "post_delete") else []
    if name == "post_save" and instance is not None and (deferred := instance.__dict__.pop(_DEFERRED, None)):
        _fire(*deferred)  # the pre_save rules of a save made in autocommit: the row is written now
    if not (triggers or watches):
        return
    using = kwargs.get("using") or (router.db_for_write(model) if model is not None else DEFAULT_DB_ALIAS)
    if name == "pre_save" and instance is not None and not connections[using].in_atomic_block:
        # In autocommit the row is not written yet, and may never be (an IntegrityError): record the
        # events at post_save, which a failed save never reaches. Whether it creates is known only now.
        instance.__dict__[_DEFERRED] = ("pre_save", sender, model, instance, dict(kwargs), triggers, watches,
                                        before, _method(name, instance, kwargs))
        return
    _fire(name, sender, model, instance, kwargs, triggers, watches, before)


def _watches_for(name: str, labels: tuple[str | None, ...], kwargs: dict[str, Any]) -> list[WatchRule]:
    if not labels:
        return []
    method = ("create" if kwargs.get("created") else "update") if name == "post_save" else "delete"
    return [rule for rule in registry.watches() if rule.model in labels and method in rule.methods]


def _read_before(rules: Index, model: type[models.Model], instance: models.Model, labels: tuple[str | None, ...],
                 kwargs: dict[str, Any]) -> None:
    """Read the stored row once, for the rules that compare it with what is saved (updates only)."""
    if instance._state.adding or instance.pk is None:
        instance.__dict__.pop(capture.BEFORE, None)
        return
    wanted: set[str] | None = set()
    if rules.triggers_for("pre_save", labels) or any(t.fires_on_update for t in rules.triggers_for("post_save", labels)):
        wanted = None  # every tracked field
    else:
        for rule in registry.watches():
            if wanted is not None and rule.model in labels and "update" in rule.methods:
                wanted = None if rule.fields is None else wanted | set(rule.fields)
    saved = kwargs.get("update_fields")
    if saved is not None:  # save(update_fields=...) writes only those
        saved_names = {model._meta.get_field(name).name for name in saved}
        wanted = saved_names if wanted is None else wanted & saved_names
    if wanted is not None and not wanted:
        instance.__dict__.pop(capture.BEFORE, None)
        return
    fields = capture.tracked_fields(model, only=wanted)
    capture.read_before(instance, fields, kwargs.get("using") or router.db_for_write(model))


def _method(name: str, instance: models.Model | None, kwargs: dict[str, Any]) -> tuple[str, bool | None]:
    """(method, created) of the event: "create" / "update" / "delete", or "" for a site's own signal."""
    if name == "post_save":
        created = bool(kwargs.get("created"))
        return ("create" if created else "update"), created
    if name == "pre_save":
        created = instance is not None and instance._state.adding
        return ("create" if created else "update"), created
    if name in ("pre_delete", "post_delete"):
        return "delete", False
    if name == "m2m_changed":
        return "update", False
    return str(kwargs.get("method") or ""), kwargs.get("created")


def _fire(name: str, sender: Any, model: type[models.Model] | None, instance: models.Model | None,
          kwargs: dict[str, Any], triggers: list[TriggerRule], watches: list[WatchRule],
          before: dict[str, Any] | None, method_created: tuple[str, bool | None] | None = None) -> None:
    method, created = method_created or _method(name, instance, kwargs)
    using = kwargs.get("using") or (router.db_for_write(model) if model is not None else DEFAULT_DB_ALIAS)
    if not connections[using].in_atomic_block:
        # In autocommit, on_commit runs a callback at once: the first event recorded would flush the
        # batch and every later one (a second subscription) would land in a spent batch. One atomic
        # block around the recording makes them one batch, flushed when it ends.
        with transaction.atomic(using=using):
            _fire(name, sender, model, instance, kwargs, triggers, watches, before, (method, created))
        return
    all_changes: dict[str, list[Any]] | None = None
    if instance is not None and model is not None and method == "update" and name in ("pre_save", "post_save"):
        all_changes = capture.changed(instance, capture.tracked_fields(model), before, kwargs.get("update_fields"))
    base: dict[str, Any] = {
        "signal": name,
        "model": model._meta.label_lower if model is not None else None,
        "pk": capture.to_json(instance.pk) if instance is not None else None,
        "snapshot": capture.snapshot(instance) if instance is not None else None,
        "method": method,
        "created": created,
        "sender": capture.to_json(sender),
        "kwargs": {key: capture.to_json(value) for key, value in kwargs.items() if key not in _SIGNAL_ONLY},
    }
    default_actor = _default_actor(kwargs)
    batch = _batch(using)
    for trigger in triggers:
        if not _matches(trigger, name, created, all_changes):
            continue
        root: Any = instance if instance is not None else kwargs
        try:
            if trigger.condition_field and not _condition(root, trigger):
                continue
            actor = _key_at(root, trigger.actor_field) if trigger.actor_field else default_actor()
            if trigger.target_field:
                target = _key_at(root, trigger.target_field)
            else:
                target = capture.object_key(instance) if instance is not None and method != "delete" else None
        except PathError as error:
            message = f"Trigger {trigger.name!r} (#{trigger.id}): {error}"
            logger.error("Notification rule failed: %s", message)
            batch.add_error(trigger.subscriptions, message)
            continue
        changes = None
        if all_changes is not None:
            changes = {field: pair for field, pair in all_changes.items() if field not in trigger.exclude_fields}
        event = {**base, "actor": actor, "target": target, "changed_data": changes}
        for subscription in trigger.subscriptions:
            batch.add(f"subscription:{subscription}", {"subscription": subscription}, event)
    for rule in watches:
        changes = None
        if all_changes is not None:
            changes = {
                field: pair for field, pair in all_changes.items()
                if (rule.fields is None or field in rule.fields) and field not in rule.exclude
            }
            if method == "update" and not changes:
                continue  # nothing the rule watches changed
        actor = default_actor()
        target = capture.object_key(instance) if instance is not None and method != "delete" else None
        event = {**base, "actor": actor, "target": target, "changed_data": changes}
        batch.add(f"watch:{rule.name}", {"watch": rule.as_json()}, event)


def _matches(trigger: TriggerRule, name: str, created: bool | None, changes: dict[str, list[Any]] | None) -> bool:
    if name in ("pre_save", "post_save"):
        if trigger.created == "created" and not created:
            return False
        if trigger.created == "updated" and created:
            return False
        if trigger.changed_fields:
            # Only updates that change one of them (a create changes nothing: it makes the row).
            return bool(changes) and any(field in changes for field in trigger.changed_fields)  # type: ignore[operator]
    return True


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def _condition(root: Any, trigger: TriggerRule) -> bool:
    value = _resolve(root, trigger.condition_field)
    expected = trigger.condition_value.strip()
    if isinstance(value, bool):
        return (expected.lower() in _TRUE) if value else (expected.lower() in _FALSE)
    if value is None:
        return expected == "" or expected.lower() == "none"
    if isinstance(value, models.Model):
        return expected in (str(value.pk), str(value))
    return str(value) == expected


def _resolve(root: Any, path: str) -> Any:
    if isinstance(root, dict):  # a site's signal without an instance: the path starts at a kwarg
        first, _, rest = path.partition(".")
        if first not in root or first in _SIGNAL_ONLY:
            raise PathError(f"{path!r}: the signal passes no {first!r}")
        return capture.resolve_path(root[first], rest) if rest else root[first]
    return capture.resolve_path(root, path)


def _key_at(root: Any, path: str) -> dict[str, Any] | None:
    """The object at ``path`` as a key; a foreign key at the end is read from its column, not fetched."""
    head, _, last = path.rpartition(".")
    owner = _resolve(root, head) if head else root
    if isinstance(owner, models.Model) and not last.startswith("_"):
        try:
            field = owner._meta.get_field(last)
        except Exception:
            field = None
        if isinstance(field, models.ForeignKey) and not capture.is_hidden(last) and field.is_cached(owner) is False:
            value = getattr(owner, field.attname)
            if value is None:
                return None
            related = field.related_model
            assert isinstance(related, type)
            return {capture.MODEL_REF: related._meta.label_lower, "pk": capture.to_json(value)}
    value = _resolve(root, path)
    if value is None:
        return None
    if not isinstance(value, models.Model) or value.pk is None:
        raise PathError(f"{path!r} is not a saved model object but {type(value).__name__}")
    return capture.object_key(value)


def _default_actor(kwargs: dict[str, Any]) -> Callable[[], dict[str, Any] | None]:
    """The actor when a rule names no actor field: the signal's ``actor``, else the resolver's user
    (asked at most once per signal)."""
    found: list[dict[str, Any] | None] = []

    def actor() -> dict[str, Any] | None:
        if not found:
            value = kwargs.get("actor")
            if not isinstance(value, models.Model):
                try:
                    value = conf.load(conf.get("RULES_ACTOR_RESOLVER"))()
                except Exception:
                    logger.exception("INBOX['RULES_ACTOR_RESOLVER'] failed; the rule is sent without an actor.")
                    value = None
            found.append(capture.object_key(value) if isinstance(value, models.Model) and value.pk is not None else None)
        return found[0]

    return actor


# -- Batches ------------------------------------------------------------------------------------


class _Scope:
    """Registered with ``on_commit`` for the events recorded at one savepoint depth.

    The batch holds it weakly: a savepoint rolled back drops it from the connection's callbacks, and so
    frees it, and its events are left out. The first scope to run (at commit) flushes the batch.
    """

    __slots__ = ("batch", "ran", "__weakref__")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.ran = False

    def __call__(self) -> None:
        self.ran = True
        self.batch.commit()


class Batch:
    """The events of one transaction on one connection, grouped per rule."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.scopes: dict[frozenset[str], weakref.ref[_Scope]] = {}
        #: (scope, rule key, rule, event) in the order recorded.
        self.events: list[tuple[weakref.ref[_Scope], str, dict[str, Any], dict[str, Any]]] = []
        self.errors: list[tuple[weakref.ref[_Scope], tuple[int, ...], str]] = []
        self.done = False

    def is_open(self) -> bool:
        return not self.done and any(ref() is not None for ref in self.scopes.values())

    def _scope(self) -> tuple[weakref.ref[_Scope], _Scope | None]:
        """The scope for the current savepoint depth; a new one (to register) when there is none."""
        connection = connections[self.using]
        key = frozenset(connection.savepoint_ids) if connection.in_atomic_block else frozenset()
        ref = self.scopes.get(key)
        if ref is not None and (scope := ref()) is not None and not scope.ran:
            return ref, None
        scope = _Scope(self)
        ref = weakref.ref(scope)
        self.scopes[key] = ref
        return ref, scope

    def _register(self, scope: _Scope | None) -> None:
        if scope is not None:
            # Outside a transaction this runs the flush at once (after the event was recorded).
            connections[self.using].on_commit(scope)

    def add(self, key: str, rule: dict[str, Any], event: dict[str, Any]) -> None:
        ref, new = self._scope()
        self.events.append((ref, key, rule, event))
        self._register(new)

    def add_error(self, subscriptions: tuple[int, ...], message: str) -> None:
        ref, new = self._scope()
        self.errors.append((ref, subscriptions, message))
        self._register(new)

    def commit(self) -> None:
        if self.done:
            return
        self.done = True
        groups: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        for ref, key, rule, event in self.events:
            if ref() is None:  # recorded in a savepoint that was rolled back
                continue
            groups.setdefault(key, (rule, []))[1].append(event)
        errors: dict[int, str] = {}
        for ref, subscriptions, message in self.errors:
            if ref() is not None:
                for subscription in subscriptions:
                    errors[subscription] = message
        self.events, self.errors = [], []
        try:
            from inbox.contrib.rules import tasks

            if errors:
                tasks.record_errors(errors)
            if groups:
                tasks.enqueue(list(groups.values()), using=self.using)
        except Exception:
            logger.exception("Notification rules could not enqueue their tasks; %d rule(s) sent nothing.", len(groups))


_local = threading.local()


def _batch(using: str) -> Batch:
    batches: dict[str, Batch] = _local.__dict__.setdefault("batches", {})
    batch = batches.get(using)
    if batch is None or not batch.is_open():
        batch = batches[using] = Batch(using)
    return batch


# -- For the admin: a test notification ---------------------------------------------------------


def send_test(subscription: Subscription, instance: models.Model, user: Any) -> Notification:
    """Send ``subscription``'s message for ``instance``, as if ``user`` had just updated it, to ``user``
    only, now (category "rules-test", the inbox only). ``ValidationError`` when it does not render."""
    from inbox.contrib.rules import rendering
    from inbox.services import notifier

    prepared = rendering.prepare_test(subscription, instance, user)
    [notification] = notifier.send(
        rendering.as_message(prepared.message),
        [user],
        actor=prepared.actor,
        target=prepared.target,
        category="rules-test",
        level=subscription.level,
        url=prepared.url,
        extra={**prepared.extra, "rule": {"subscription": subscription.pk, "test": True}},
        channels=(),
        now=timezone.now(),
    )
    return notification


def connected_per_model() -> set[tuple[str, str]]:
    """(signal, model label) of the per-model receivers connected now (for tests and the admin)."""
    with _lock:
        return set(_per_model)  # the keys

