"""What code registers for the rules: signals selectable by name, dynamic receivers, and watch() rules.

Nothing here imports a model: ``inbox.contrib.rules`` re-exports these functions, and a site calls
them from its own modules (``signals.py``, ``apps.py``) before or after the app registry is ready.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import Model
from django.db.models import signals as model_signals
from django.dispatch import Signal

#: Django's model signals a Trigger may name. Their senders are models.
MODEL_SIGNALS: dict[str, Signal] = {
    "pre_save": model_signals.pre_save,
    "post_save": model_signals.post_save,
    "pre_delete": model_signals.pre_delete,
    "post_delete": model_signals.post_delete,
    "m2m_changed": model_signals.m2m_changed,
}

#: Signals a site registered with register_signal(), by name, in registration order.
_signals: dict[str, Signal] = {}
#: Dynamic receivers registered with @receivers(name).
_receivers: dict[str, Callable[..., Any]] = {}
#: Code-defined rules from watch(), by name.
_watches: dict[str, WatchRule] = {}
_lock = threading.RLock()
#: Called with (name, signal) when a signal is registered, and with the rule when watch() is called
#: (dispatch.connect() adds its hooks).
_on_register: list[Callable[[str, Signal], None]] = []
_on_watch: list[Callable[[WatchRule], None]] = []

METHODS = ("create", "update", "delete")
_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_.:-]{0,99}\Z")


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"A {kind} name must be 1 to 100 letters, digits, '_', '.', ':' or '-', starting with a letter; not {name!r}."
        )
    return name


# -- Signals ------------------------------------------------------------------------------------


def register_signal(name: str, signal: Signal) -> Signal:
    """Make ``signal`` (a site's own ``django.dispatch.Signal``) selectable as ``Trigger.signal = name``.

    Registering the same signal under the same name again does nothing; another signal under a name
    that is taken (or one of Django's model signals' names) is a ``ValueError``. Returns ``signal``.
    """
    _check_name("signal", name)
    if not isinstance(signal, Signal):
        raise TypeError(f"register_signal() needs a django.dispatch.Signal, not {signal!r}.")
    with _lock:
        taken = MODEL_SIGNALS.get(name) or _signals.get(name)
        if taken is signal and name in _signals:
            return signal
        if taken is not None:
            raise ValueError(f"A signal is already registered as {name!r}.")
        _signals[name] = signal
        hooks = list(_on_register)
    for hook in hooks:
        hook(name, signal)
    return signal


def unregister_signal(name: str) -> None:
    """Forget a registered signal (its dispatcher is disconnected). Mostly for tests."""
    with _lock:
        signal = _signals.pop(name, None)
    if signal is not None:
        signal.disconnect(dispatch_uid=dispatch_uid(name))


def dispatch_uid(name: str) -> str:
    return f"inbox.contrib.rules:{name}"


def signals() -> dict[str, Signal]:
    """Every signal a Trigger may name: Django's model signals, then the registered ones."""
    with _lock:
        return {**MODEL_SIGNALS, **_signals}


def signal_choices() -> list[tuple[str, str]]:
    """(value, label) pairs for a form's choices of ``Trigger.signal``."""
    return [(name, name) for name in signals()]


def is_model_signal(name: str) -> bool:
    return name in MODEL_SIGNALS


# -- Dynamic receivers --------------------------------------------------------------------------


def register_receivers(name: str, *, replace: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function that computes who hears a rule, selectable as ``Subscription.dynamic_receivers``::

        @receivers("movie_audience")
        def audience(*, instance, **signal_kwargs):
            return instance.ticket_holders.all()

    The function is called after commit, in the rule's task, with ``instance`` (the signal's
    instance, or None), ``actor`` (who acted, or None) and the signal's other arguments (model objects
    as objects again), and returns
    recipients: users, groups, any model instances, or a QuerySet of them (None: nobody). Accept
    ``**kwargs``: more arguments may be passed in later versions. A name that is taken by another
    function is a ``ValueError`` unless ``replace=True``.
    """
    _check_name("receivers", name)

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(function):
            raise TypeError(f"@receivers({name!r}) decorates a function, not {function!r}.")
        with _lock:
            taken = _receivers.get(name)
            if taken is not None and taken is not function and not replace and not _same_function(taken, function):
                raise ValueError(f"Dynamic receivers named {name!r} are already registered ({taken!r}).")
            _receivers[name] = function
        return function

    return register


receivers = register_receivers


def _same_function(one: Callable[..., Any], other: Callable[..., Any]) -> bool:
    """The same function defined again (a module imported twice, an autoreload)."""
    return (getattr(one, "__module__", None), getattr(one, "__qualname__", None)) == (
        getattr(other, "__module__", None), getattr(other, "__qualname__", None)
    )


def unregister_receivers(name: str) -> None:
    with _lock:
        _receivers.pop(name, None)


def get_receivers(name: str) -> Callable[..., Any]:
    """The function registered as ``name``; ``KeyError`` when there is none."""
    with _lock:
        return _receivers[name]


def receiver_choices() -> list[tuple[str, str]]:
    """(value, label) pairs for a form's choices of ``Subscription.dynamic_receivers``."""
    with _lock:
        return [(name, name) for name in _receivers]


# -- watch() ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WatchRule:
    """A code-defined rule: notify ``receivers`` when instances of ``model`` are created, updated or deleted.

    Everything in it is JSON data, so the rule travels to the task as its argument and a worker
    needs only the dynamic receivers registered under ``receivers``.
    """

    name: str
    model: str  # "app_label.modelname" (lower case)
    fields: tuple[str, ...] | None
    methods: tuple[str, ...]
    receivers: str
    message: str | None
    url: str
    category: str
    level: int
    channels: tuple[str, ...]
    exclude: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WatchRule:
        values = dict(data)
        for name in ("methods", "channels", "exclude"):
            values[name] = tuple(values.get(name) or ())
        if values.get("fields") is not None:
            values["fields"] = tuple(values["fields"])
        return cls(**values)

    def signals(self) -> set[str]:
        found = set()
        if "create" in self.methods or "update" in self.methods:
            found.add("post_save")
        if "delete" in self.methods:
            found.add("post_delete")
        return found


def watch(
    model: type[Model] | str,
    *,
    fields: Iterable[str] | None = None,
    methods: Iterable[str] = METHODS,
    receivers: str | Callable[..., Any],
    message: str | None = None,
    url: str = "",
    category: str = "",
    level: int = 20,
    channels: Iterable[str] = (),
    exclude: Iterable[str] = (),
    name: str | None = None,
) -> WatchRule:
    """Notify about ``model``'s instances being created, updated or deleted, from code (no database rows).

    ``receivers`` names dynamic receivers registered with ``@receivers(name)`` (or is such a function,
    registered under its dotted name). ``fields`` limits what counts as an update (None: any field) and
    what ``changed_data`` shows; ``exclude`` never shows. ``message`` and ``url`` are in the Django
    template language over the same context as a Subscription's (None: "Project “Apollo” was
    updated."). ``level`` is a ``django.contrib.messages`` level (INFO). Each notification's ``extra``
    holds ``{"model", "instance": {"pk", "repr"}, "method", "changed_data"}``.

    Rules are named ``name`` (default: "<model>:<receivers>"); watching under a name again replaces
    that rule. Returns the rule.
    """
    label = _model_label(model)
    methods = tuple(methods)
    unknown = [method for method in methods if method not in METHODS]
    if unknown or not methods:
        raise ValueError(f"watch() methods are some of {METHODS}, not {methods!r}.")
    if callable(receivers):
        function = receivers
        receivers = re.sub(r"[^A-Za-z0-9_.:-]", "_", f"{function.__module__}.{function.__qualname__}")[:100]
        register_receivers(receivers, replace=True)(function)
    if not isinstance(receivers, str) or not receivers:
        raise TypeError("watch() needs receivers=: the name of @receivers(...) or such a function.")
    if isinstance(fields, str) or isinstance(exclude, str) or isinstance(channels, str):
        raise TypeError("watch() takes fields, exclude and channels as lists or tuples of names, not a string.")
    if not isinstance(level, int):
        raise TypeError(f"watch() level is an int (a django.contrib.messages level), not {level!r}.")
    rule = WatchRule(
        name=_check_name("watch", name or f"{label}:{receivers}"[:100]),
        model=label,
        fields=None if fields is None else tuple(fields),
        methods=methods,
        receivers=receivers,
        message=message,
        url=url,
        category=category,
        level=int(level),
        channels=tuple(channels),
        exclude=tuple(exclude),
    )
    # The templates are checked by the system checks (inbox_rules.E001): watch() may run before the
    # template engine can load (from a models module).
    with _lock:
        _watches[rule.name] = rule
        hooks = list(_on_watch)
    for hook in hooks:
        hook(rule)
    return rule


def unwatch(rule: WatchRule | str) -> None:
    with _lock:
        _watches.pop(rule if isinstance(rule, str) else rule.name, None)


def watches() -> list[WatchRule]:
    with _lock:
        return list(_watches.values())


def _model_label(model: type[Model] | str) -> str:
    if isinstance(model, str):
        if model.count(".") != 1:
            raise ValueError(f"watch() takes a model class or 'app_label.ModelName', not {model!r}.")
        return model.lower()
    if isinstance(model, type) and issubclass(model, Model):
        return model._meta.label_lower
    raise TypeError(f"watch() takes a model class or 'app_label.ModelName', not {model!r}.")
