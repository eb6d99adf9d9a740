"""The rules each process keeps in memory, and how an edit anywhere reaches every process.

The enabled Triggers and their enabled Subscriptions are read on first use (two queries) into an
:class:`Index` that answers "which rules for this signal from this model?" without a query. A
version token lives in Django's cache framework (``INBOX["RULES_CACHE"]``): saving or deleting a
Trigger or Subscription (or changing a subscription's users or groups) replaces it once the edit
commits. Each process re-reads the token at most every ``INBOX["RULES_CACHE_SECONDS"]`` and reloads its
rules when it moved, so an admin edit reaches every process sharing the cache without a restart.

A thread whose transaction holds an uncommitted rule edit uses rules read inside that transaction
(its own edit included); other threads keep the committed ones. A rolled-back edit changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
import weakref
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.db import DatabaseError, router, transaction

from inbox import conf
from inbox.contrib.rules import registry

if TYPE_CHECKING:
    from django.db import models

logger = logging.getLogger("inbox.rules")

VERSION_KEY = "inbox:rules:version"


@dataclasses.dataclass(frozen=True)
class TriggerRule:
    """An enabled Trigger with the ids of its enabled Subscriptions: what matching needs, as plain data."""

    id: int
    name: str
    signal: str
    model: str | None  # "app_label.model", None: any sender
    created: str  # "", "created", "updated"
    condition_field: str
    condition_value: str
    changed_fields: tuple[str, ...]
    exclude_fields: tuple[str, ...]
    actor_field: str
    target_field: str
    subscriptions: tuple[int, ...]

    @property
    def fires_on_update(self) -> bool:
        return self.created != "created"


class Index:
    """Rules by (signal name, sender model label or None)."""

    def __init__(self, triggers: list[TriggerRule]) -> None:
        self.triggers = triggers
        self._by_key: dict[tuple[str, str | None], list[TriggerRule]] = defaultdict(list)
        for trigger in triggers:
            self._by_key[(trigger.signal, trigger.model)].append(trigger)

    def triggers_for(self, signal: str, labels: tuple[str | None, ...]) -> list[TriggerRule]:
        found: list[TriggerRule] = []
        for label in (*labels, None):
            found += self._by_key.get((signal, label), ())
        if len(labels) > 1:  # a proxy and its concrete model may name the same trigger
            found = list({trigger.id: trigger for trigger in found}.values())
        return found

    def __bool__(self) -> bool:
        return bool(self.triggers)


EMPTY = Index([])


class EditCommitted:
    """Registered with on_commit by a rule edit; weakly tracked, so it is pending while it is alive and has
    not run (a rollback drops it from the connection's callbacks, and so frees it)."""

    __slots__ = ("ran", "__weakref__")

    def __init__(self) -> None:
        self.ran = False

    def __call__(self) -> None:
        self.ran = True
        bump()


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index: Index | None = None  # None: not loaded, or known to be stale
        self.version: Any = None
        self.checked = float("-inf")  # time.monotonic() of the last version read
        self.loads = 0  # how many times the rules were read from the database (for tests)
        self.failed = float("-inf")  # time.monotonic() of the last read that failed (tables missing)
        self.local = threading.local()  # .edits: weakrefs to this thread's uncommitted edits; .index


_state = _State()


def _cache() -> Any:
    return caches[conf.get("RULES_CACHE")]


def _read_version() -> Any:
    cache = _cache()
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, None)  # only if still missing: processes agree on one
        version = cache.get(VERSION_KEY)
    return version


def bump() -> None:
    """Tell every process its rules are stale (and this one at once). Call it after changing rules in
    a way that sends no model signal (``QuerySet.update()``, raw SQL)."""
    try:
        _cache().set(VERSION_KEY, uuid.uuid4().hex, None)
    except Exception:  # a cache that is down must not break the save that changed a rule
        logger.exception("Could not store the rules' new version in the cache; other processes keep their rules "
                         "until it works again.")
    with _state.lock:
        _state.index = None
        _state.checked = float("-inf")


invalidate = bump


def rules_changed(using: str | None = None) -> None:
    """A Trigger or Subscription changed in the current transaction on ``using``: this thread reads the
    rules afresh inside it; every process (this one too) reloads once it commits."""
    edit = EditCommitted()
    edits = _edits()
    edits.append(weakref.ref(edit))
    _state.local.index = None
    transaction.on_commit(edit, using=using)


def _edits() -> list[weakref.ref[Any]]:
    local = _state.local
    if not hasattr(local, "edits"):
        local.edits = []
    return local.edits


def _pending_edits() -> tuple[Any, ...]:
    """This thread's rule edits that are neither committed nor rolled back yet."""
    edits = _edits()
    alive = [ref for ref in edits if (edit := ref()) is not None and not edit.ran]
    if len(alive) != len(edits):
        edits[:] = alive
    return tuple(ref() for ref in alive)


def current() -> Index:
    """The rules for this thread now: a query-free answer except on first use, after an edit, or
    when another process's edit moved the version (then one bounded reload)."""
    pending = _pending_edits()
    local = _state.local
    if pending:
        # Weak references: holding the edits would keep a rolled-back one "pending".
        if getattr(local, "index", None) is None or tuple(ref() for ref in local.for_edits) != pending:
            local.index, local.for_edits = load() or EMPTY, tuple(weakref.ref(edit) for edit in pending)
        return local.index
    local.index = None
    state = _state
    now = time.monotonic()
    index = state.index
    if index is not None and now - state.checked < conf.get("RULES_CACHE_SECONDS"):
        return index
    if index is None and now - state.failed < max(conf.get("RULES_CACHE_SECONDS"), 1):
        return EMPTY  # the tables were missing a moment ago (migrate): do not ask at every signal
    with state.lock:
        try:
            version = _read_version()
        except Exception:
            logger.exception("Could not read the rules' version from the cache; keeping the rules loaded.")
            version = state.version
        state.checked = now
        if state.index is not None and version == state.version:
            return state.index
        loaded = load()
        if loaded is None:
            state.index, state.failed = None, now
            return EMPTY
        state.index, state.version = loaded, version
        return loaded


def is_committed(rules: Index) -> bool:
    """``rules`` are this process's committed rules (not ones read inside an uncommitted edit)."""
    return rules is _state.index or rules is EMPTY


def load() -> Index | None:
    """Read the enabled rules: one query for the triggers (with their sender models), one for their
    enabled subscriptions' ids. None when the tables cannot be read (they do not exist during ``migrate``)."""
    from inbox.contrib.rules.models import Subscription, Trigger

    _state.loads += 1
    db = router.db_for_read(Trigger)
    try:
        # A savepoint, so a missing table does not break a transaction in progress (PostgreSQL).
        with transaction.atomic(using=db):
            triggers = list(
                Trigger.objects.using(db).filter(enabled=True).select_related("sender").order_by("pk")
            )
            subscriptions: dict[int, list[int]] = defaultdict(list)
            rows = (Subscription.objects.using(db).filter(enabled=True, trigger__enabled=True)
                    .order_by("pk").values_list("trigger_id", "pk"))
            for trigger_id, pk in rows:
                subscriptions[trigger_id].append(pk)
    except DatabaseError as error:
        logger.debug("The rules could not be read (%s); none apply until they can be.", error)
        return None
    known = registry.signals()
    found = []
    for trigger in triggers:
        model: type[models.Model] | None = None
        if trigger.sender is not None:
            model = trigger.sender.model_class()
            if model is None:  # the model's app was removed
                continue
        if trigger.signal not in known or not subscriptions.get(trigger.pk):
            continue
        found.append(
            TriggerRule(
                id=trigger.pk,
                name=trigger.name,
                signal=trigger.signal,
                model=None if model is None else model._meta.label_lower,
                created=trigger.created or "",
                condition_field=trigger.condition_field.strip(),
                condition_value=trigger.condition_value,
                changed_fields=split_names(trigger.changed_fields),
                exclude_fields=split_names(trigger.exclude_fields),
                actor_field=trigger.actor_field.strip(),
                target_field=trigger.target_field.strip(),
                subscriptions=tuple(subscriptions[trigger.pk]),
            )
        )
    return Index(found)


def split_names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in (text or "").replace("\n", ",").split(",") if name.strip())


def reset(*, assume_empty: bool = False) -> None:
    """Forget the rules in memory (this process); the next signal reads them again. For tests:
    ``assume_empty=True`` takes "no rules" as read, at the current version, without a query (a test
    database after its transaction rolled back)."""
    with _state.lock:
        _state.index = EMPTY if assume_empty else None
        _state.version = _read_version() if assume_empty else None
        _state.checked = time.monotonic() if assume_empty else float("-inf")
        _state.failed = float("-inf")
    _state.local = threading.local()


def loads() -> int:
    """How many times this process read the rules from the database."""
    return _state.loads
