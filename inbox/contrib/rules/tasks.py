"""The ``notify`` task: a batch of one rule's events rendered and sent, after commit.

One task per subscription (or watch() rule) per committed transaction, with JSON arguments: the rule
(a subscription id, or a watch rule's data) and its events. The task

1. loads the subscription (skipping one disabled or deleted since), and every object the events name
   that still exists, one query per model (``in_bulk``); a deleted instance is rebuilt from its snapshot;
2. up to ``INBOX["RULES_BATCH_SUMMARY"]`` events: renders each event's message and link and sends it
   through ``notifier.send`` to the static users, the users of the groups and the dynamic receivers
   (de-duplicated); past it, sends ONE summary notification ("1,000 projects were created") with the
   events' keys in ``extra["pks"]``;
3. logs each failure (logger "inbox.rules") and records the last on ``Subscription.last_error`` (one
   UPDATE): a failure of one event never stops the others.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, models, router, transaction
from django.db.models import Q, QuerySet
from django.template.base import Template
from django.utils import timezone

from inbox import conf
from inbox.contrib.rules import capture, registry, rendering
from inbox.contrib.rules.registry import WatchRule

try:  # Django 6 ships the Tasks API; on 5.2 the django-tasks backport provides the same one.
    from django.tasks import task, task_backends  # type: ignore[import-not-found,import-untyped,unused-ignore]
except ImportError:
    from django_tasks import task, task_backends

logger = logging.getLogger("inbox.rules")

SUMMARY = "summary"


def backend_alias() -> str:
    return conf.get("RULES_TASK_BACKEND") or conf.get("TASK_BACKEND")


def backend() -> Any:
    return task_backends[backend_alias()]


@task()
def notify(rule: dict[str, Any], events: list[dict[str, Any]], using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Send what ``events`` say for ``rule`` ({"subscription": id} or {"watch": {...}}); the counts of
    notifications sent, events skipped and failures."""
    return run(rule, events, using=using)


def enqueue(groups: Iterable[tuple[dict[str, Any], list[dict[str, Any]]]], *, using: str = DEFAULT_DB_ALIAS) -> int:
    """One task per (rule, events). Past ``INBOX["RULES_BATCH_SUMMARY"]`` events the snapshots of rows
    that still exist are left out (the summary does not render them). A broker that is down is logged."""
    limit = conf.get("RULES_BATCH_SUMMARY")
    task_ = notify.using(backend=backend_alias())
    runs_inline = getattr(backend(), "supports_defer", False) is False
    count = 0
    # One transaction for a database backend's rows, a savepoint each; none around a backend that runs
    # the task right here (it would hold a transaction open while sending).
    with nullcontext() if runs_inline else transaction.atomic():
        for rule, events in groups:
            if len(events) > limit:
                events = [_compact(event) for event in events]
            # As a worker would receive them (JSON), whatever the backend: the immediate one passes objects.
            rule, events = json.loads(json.dumps([rule, events]))
            try:
                with nullcontext() if runs_inline else transaction.atomic():
                    task_.enqueue(rule, events, using)
                count += 1
            except Exception:
                logger.exception("Could not enqueue the notification rule %s (%d events); they are not sent.",
                                 _describe(rule), len(events))
    return count


def _compact(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("method") == "delete":
        return event
    return {**event, "snapshot": None}


def _describe(rule: dict[str, Any]) -> str:
    if "subscription" in rule:
        return f"subscription #{rule['subscription']}"
    return f"watch {rule.get('watch', {}).get('name')!r}"


def record_errors(errors: dict[int, str]) -> None:
    """``Subscription.last_error`` / ``last_error_at``: one UPDATE per subscription that failed."""
    from inbox.contrib.rules.models import Subscription

    now = timezone.now()
    for pk, message in errors.items():
        try:
            Subscription.objects.filter(pk=pk).update(last_error=message[:2000], last_error_at=now)
        except Exception:
            logger.exception("Could not record the failure of subscription #%s: %s", pk, message)


# -- Running ------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What one rule sends, whether a Subscription or a watch() rule."""

    name: str
    subscription_id: int | None
    text: str
    template_name: str
    url: str
    category: str
    level: int
    channels: tuple[str, ...]
    dynamic: str
    static: QuerySet | None
    trigger_name: str = ""


def _plan(rule: dict[str, Any]) -> Plan | None:
    if "watch" in rule:
        watch = WatchRule.from_json(rule["watch"])
        return Plan(
            name=f"watch {watch.name!r}", subscription_id=None, text=watch.message or "", template_name="",
            url=watch.url, category=watch.category, level=watch.level, channels=watch.channels,
            dynamic=watch.receivers, static=None,
        )
    from inbox.contrib.rules.models import Subscription

    subscription = Subscription.objects.select_related("trigger").filter(pk=rule["subscription"]).first()
    if subscription is None or not subscription.enabled or not subscription.trigger.enabled:
        return None
    return Plan(
        name=f"subscription #{subscription.pk} of trigger {subscription.trigger.name!r}",
        subscription_id=subscription.pk, text=subscription.template, template_name=subscription.template_name,
        url=subscription.url_template, category=subscription.category, level=subscription.level,
        channels=tuple(subscription.channels or ()), dynamic=subscription.dynamic_receivers.strip(),
        static=static_receivers(subscription.pk), trigger_name=subscription.trigger.name,
    )


def static_receivers(subscription_id: int) -> QuerySet:
    """The subscription's users and the users of its groups, as one lazy QuerySet (no query yet)."""
    from inbox.contrib.rules.models import Subscription

    user_model = get_user_model()
    users = Subscription.users.through.objects.filter(subscription_id=subscription_id).values(
        Subscription.users.field.m2m_reverse_name())
    groups = Subscription.groups.through.objects.filter(subscription_id=subscription_id).values("group_id")
    members = user_model._default_manager.filter(groups__in=groups).values("pk")
    return user_model._default_manager.filter(Q(pk__in=users) | Q(pk__in=members))


class _Objects:
    """The objects events name, loaded once: one query per model."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.wanted: dict[str, set[Any]] = defaultdict(set)
        self.found: dict[tuple[str, str], models.Model] = {}

    def want(self, key: Any) -> None:
        if capture.is_object_key(key):
            self.wanted[key[capture.MODEL_REF]].add(key["pk"])
        elif isinstance(key, dict):
            for value in key.values():
                self.want(value)
        elif isinstance(key, list):
            for value in key:
                self.want(value)

    def load(self, instance_models: set[str]) -> None:
        for label, pks in self.wanted.items():
            try:
                model = apps.get_model(label)
            except LookupError:
                continue
            db = self.using if label in instance_models else router.db_for_read(model)
            for pk, obj in model._default_manager.db_manager(db).in_bulk(list(pks)).items():
                self.found[(label, str(capture.to_json(pk)))] = obj

    def get(self, key: Any) -> models.Model | None:
        if not capture.is_object_key(key):
            return None
        return self.found.get((key[capture.MODEL_REF], str(key["pk"])))

    def resolve(self, value: Any) -> Any:
        """JSON data with its object references replaced by the objects (None when gone)."""
        if capture.is_object_key(value):
            return self.get(value)
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value


def _rebuild(label: str | None, snapshot: dict[str, Any] | None) -> models.Model | None:
    """An unsaved stand-in for a row that is gone, from its snapshot (hidden fields stay deferred)."""
    if label is None or not snapshot:
        return None
    try:
        model = apps.get_model(label)
    except LookupError:
        return None
    values = {}
    for field in model._meta.concrete_fields:
        if field.attname in snapshot:
            value = snapshot[field.attname]
            try:
                value = field.to_python(value)
            except Exception:
                pass
            values[field.attname] = value
    instance = model.from_db(None, list(values), list(values.values()))
    instance._state.adding = True  # it is not in the database any more
    return instance


def _sender(value: Any) -> Any:
    if isinstance(value, str) and value.count(".") == 1:
        try:
            return apps.get_model(value)
        except (LookupError, ValueError):
            return value
    return value


def run(rule: dict[str, Any], events: list[dict[str, Any]], using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    plan = _plan(rule)
    if plan is None:
        return {"skipped": len(events)}
    summary = len(events) > conf.get("RULES_BATCH_SUMMARY")
    errors: list[str] = []
    counts = {"sent": 0, "failed": 0}
    objects = _Objects(using)
    instance_models = {event["model"] for event in events if event.get("model")}
    needs_instances = not summary or bool(plan.dynamic)
    for event in events:
        if needs_instances and event.get("model") and event.get("pk") is not None:
            objects.want({capture.MODEL_REF: event["model"], "pk": event["pk"]})
        objects.want(event.get("actor"))
        if not summary:
            objects.want(event.get("target"))
            objects.want(event.get("kwargs"))
    objects.load(instance_models)

    try:
        template: Template | None = None if summary else rendering.load(plan.text, plan.template_name)
    except Exception as error:
        return _failed(plan, [f"{type(error).__name__}: {error}"], len(events))

    if summary:
        _send_summary(plan, events, objects, counts, errors)
    else:
        for event in events:
            try:
                _send_one(plan, template, event, objects)
                counts["sent"] += 1
            except Exception as error:
                counts["failed"] += 1
                errors.append(f"{type(error).__name__}: {error}")
                logger.exception("Notification rule %s failed for %s #%s.", plan.name, event.get("model"),
                                 event.get("pk"))
    if errors and plan.subscription_id is not None:
        record_errors({plan.subscription_id: errors[-1]})
    return counts


def _failed(plan: Plan, errors: list[str], count: int) -> dict[str, int]:
    logger.error("Notification rule %s failed: %s", plan.name, errors[-1])
    if plan.subscription_id is not None:
        record_errors({plan.subscription_id: errors[-1]})
    return {"sent": 0, "failed": count}


def _instance(event: dict[str, Any], objects: _Objects) -> models.Model | None:
    if event.get("model") is None:
        return None
    if event.get("pk") is None:  # pre_save of a new row: it had no primary key when the signal fired
        return _rebuild(event["model"], event.get("snapshot"))
    found = objects.get({capture.MODEL_REF: event["model"], "pk": event["pk"]})
    if found is not None and event.get("method") != "delete":
        return found
    return _rebuild(event["model"], event.get("snapshot")) or found


def _dynamic(plan: Plan, instance: models.Model | None, kwargs: dict[str, Any], actor: models.Model | None) -> Any:
    """The dynamic receivers' answer: called with the signal's arguments, ``instance`` and ``actor``."""
    if not plan.dynamic:
        return None
    function = registry.get_receivers(plan.dynamic)
    return function(**{**kwargs, "instance": instance, "actor": actor})


def _recipients(plan: Plan, dynamic: list[Any]) -> Any:
    """Static ∪ dynamic receivers, de-duplicated: one QuerySet when they are all the user model's."""
    static = plan.static
    user_model = get_user_model()
    sets = [part for part in dynamic if part is not None]
    if all(isinstance(part, QuerySet) and part.model is user_model for part in sets):
        if not sets:
            return static if static is not None else []
        condition = Q(pk__in=static.values("pk")) if static is not None else Q()
        for part in sets:
            condition |= Q(pk__in=part.values("pk"))
        return user_model._default_manager.filter(condition)
    found: list[Any] = list(static) if static is not None else []
    for part in sets:
        if isinstance(part, models.Model):
            found.append(part)
        else:
            found.extend(part)
    return found  # send() de-duplicates a list (and expands groups)


def _send_one(plan: Plan, template: Template | None, event: dict[str, Any], objects: _Objects) -> None:
    from inbox.services import notifier

    instance = _instance(event, objects)
    kwargs = objects.resolve(event.get("kwargs") or {})
    actor = objects.get(event.get("actor"))
    target = objects.get(event.get("target"))
    context = rendering.build_context(
        instance=instance, sender=_sender(event.get("sender")), actor=actor, target=target,
        created=event.get("created"), method=event.get("method") or "", changed_data=event.get("changed_data"),
        kwargs={**kwargs, "trigger_name": plan.trigger_name},
    )
    message = rendering.render(template, context)
    if not message:
        raise ValueError("the template rendered an empty message")
    url = rendering.render_url(plan.url, context)
    recipients = _recipients(plan, [_dynamic(plan, instance, kwargs, actor)])
    extra = rendering.model_extra(event.get("model"), instance, event.get("pk"), event.get("method") or "",
                                  event.get("changed_data"))
    notifier.send(
        rendering.as_message(message), recipients, actor=actor, target=target, category=plan.category,
        level=plan.level, url=url, extra=extra, channels=plan.channels,
    )


def _send_summary(plan: Plan, events: list[dict[str, Any]], objects: _Objects, counts: dict[str, int],
                  errors: list[str]) -> None:
    """One summary to the static receivers, about every event; with dynamic receivers, each of them
    gets a summary of the events that named them only (never a count or keys of other people's rows),
    one send per distinct set of events."""
    static = list(plan.static) if plan.static is not None else []
    if static:
        _send_summary_to(plan, events, objects, static, counts, errors)
    if not plan.dynamic:
        return
    static_keys = {(type(user), user.pk) for user in static}
    named: dict[tuple[Any, Any], tuple[Any, list[int]]] = {}  # receiver -> (receiver, indexes of its events)
    seen: dict[tuple[Any, Any], list[Any]] = {}
    for index, event in enumerate(events):
        key = (event.get("model"), event.get("pk"))
        if key not in seen:
            try:
                result = _dynamic(plan, _instance(event, objects), objects.resolve(event.get("kwargs") or {}),
                                  objects.get(event.get("actor")))
                seen[key] = [result] if isinstance(result, models.Model) else list(result or [])
            except Exception as error:
                seen[key] = []
                errors.append(f"{type(error).__name__}: {error}")
                logger.exception("The dynamic receivers of notification rule %s failed.", plan.name)
        for receiver in seen[key]:
            receiver_key = (type(receiver), receiver.pk)
            if receiver_key not in static_keys:
                named.setdefault(receiver_key, (receiver, []))[1].append(index)
    by_events: dict[tuple[int, ...], list[Any]] = {}
    for receiver, indexes in named.values():
        by_events.setdefault(tuple(dict.fromkeys(indexes)), []).append(receiver)
    for chosen, receivers in by_events.items():
        _send_summary_to(plan, [events[index] for index in chosen], objects, receivers, counts, errors)


def _send_summary_to(plan: Plan, events: list[dict[str, Any]], objects: _Objects, recipients: Any,
                     counts: dict[str, int], errors: list[str]) -> None:
    from inbox.services import notifier

    labels = {event.get("model") for event in events}
    label = labels.pop() if len(labels) == 1 else None
    model = None
    if label:
        try:
            model = apps.get_model(label)
        except LookupError:
            model = None
    methods = {event.get("method") or "" for event in events}
    actors = {str(event.get("actor")) for event in events}
    actor = objects.get(events[0].get("actor")) if len(actors) == 1 else None
    pks = list(dict.fromkeys(event.get("pk") for event in events if event.get("pk") is not None))
    extra: dict[str, Any] = {
        "model": label or "",
        "instance": None,
        "method": methods.pop() if len(methods) == 1 else "mixed",
        "changed_data": {},
        SUMMARY: True,
        "count": len(events),
        "pks": pks,
    }
    try:
        notifier.send(
            rendering.as_message(rendering.summary_message(len(events), model, {e.get("method") or "" for e in events})),
            recipients, actor=actor, category=plan.category, level=plan.level, extra=extra,
            channels=plan.channels,
        )
        counts["sent"] += 1
    except Exception as error:
        counts["failed"] += 1
        errors.append(f"{type(error).__name__}: {error}")
        logger.exception("Notification rule %s could not send its summary.", plan.name)
