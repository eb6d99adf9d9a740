"""Rule messages: the Django template language over the event's context, rendered after commit.

A Subscription's template (text, or a template file) is rendered with autoescaping off (a message
is stored as plain text and escaped wherever it is shown) over:

``instance``, ``sender``, ``actor``, ``target``, ``created``, ``method`` ("create", "update",
"delete"), ``changed_data`` (``{field: [old, new]}``), ``model_name``, and the signal's own arguments.

A template may not read a private name or a hidden one (a lookup containing a word of
``INBOX["MESSAGE_HIDDEN_FIELDS"]``: ``{{ actor.password }}``, ``{{ instance.owner.email }}``), the same
rule as ``send()``'s messages. The rendered text is sent literally: brackets and braces in it are
text, never a shortcode or a format field.

For the admin: :func:`validate_template`, :func:`preview`; and ``dispatch.send_test``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import FilterExpression, Node, Template, Variable
from django.template.smartif import TokenBase
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inbox import conf, shortcodes
from inbox.contrib.rules import capture
from inbox.exceptions import MessageFormatError
from inbox.formatting import _model_field_value

if TYPE_CHECKING:
    from inbox.contrib.rules.models import Subscription


# -- Compiling and checking ---------------------------------------------------------------------


def engine() -> Engine:
    """The site's Django template engine (its libraries and loaders apply)."""
    return Engine.get_default()


def _walk(obj: Any, seen: set[int]) -> Iterator[tuple[str, ...]]:
    """Every variable lookup in a compiled template (nodes, their expressions, their filters' arguments)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Variable):
        if obj.lookups:
            yield tuple(str(part) for part in obj.lookups)
    elif isinstance(obj, FilterExpression):
        yield from _walk(obj.var, seen)
        for _func, args in obj.filters:
            for is_lookup, arg in args:
                if is_lookup:
                    yield from _walk(arg, seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for item in obj:
            yield from _walk(item, seen)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _walk(item, seen)
    elif isinstance(obj, (Node, TokenBase)):
        for name, value in getattr(obj, "__dict__", {}).items():
            if name not in ("origin", "token"):
                yield from _walk(value, seen)


def _check_lookups(template: Template) -> None:
    for lookups in _walk(template.nodelist, set()):
        for part in lookups:
            if capture.is_hidden(part):
                raise ValidationError(
                    _("The template reads %(name)s, a private or hidden field (see INBOX[\"MESSAGE_HIDDEN_FIELDS\"])."),
                    code="hidden", params={"name": ".".join(lookups)},
                )


@functools.lru_cache(maxsize=256)
def _compile(text: str) -> Template:
    template = engine().from_string(text)
    _check_lookups(template)
    return template


@receiver(setting_changed)
def _forget_templates(*, setting: str, **kwargs: Any) -> None:
    if setting in ("TEMPLATES", "INBOX"):  # another engine, or other hidden words
        _compile.cache_clear()


def check_syntax(text: str) -> Template:
    """The compiled template; ``ValidationError`` for a syntax error or a hidden lookup."""
    try:
        return _compile(text)
    except TemplateSyntaxError as error:
        raise ValidationError(_("The template has an error: %(error)s"), code="syntax",
                              params={"error": error}) from None


def validate_template(text: str) -> None:
    """``ValidationError`` unless ``text`` compiles, reads nothing hidden, and renders over an empty
    context (so a ``{% url %}`` to nowhere or a missing ``{% include %}`` is caught when it is saved)."""
    template = check_syntax(text)
    try:
        template.render(Context({}, autoescape=False))
    except Exception as error:
        raise ValidationError(_("The template does not render: %(error)s"), code="render",
                              params={"error": f"{type(error).__name__}: {error}"}) from None


def load(text: str = "", name: str = "") -> Template | None:
    """The template of ``text`` (when not blank), else of the file ``name``, else None (the default message)."""
    if text.strip():
        return check_syntax(text)
    if name.strip():
        template = engine().get_template(name.strip())
        _check_lookups(template)
        return template
    return None


# -- Context and rendering ----------------------------------------------------------------------


def build_context(
    *,
    instance: models.Model | None,
    sender: Any,
    actor: Any,
    target: Any,
    created: bool | None,
    method: str,
    changed_data: Mapping[str, Any] | None,
    kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    model = type(instance) if instance is not None else (sender if _is_model(sender) else None)
    return {
        **(kwargs or {}),
        "instance": instance,
        "sender": sender,
        "actor": actor,
        "target": target,
        "created": created,
        "method": method,
        "changed_data": dict(changed_data or {}),
        "model_name": str(model._meta.verbose_name) if model is not None else "",
    }


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, models.Model)


class Visible:
    """A model object as a rule's template may read it, by the rule of ``send()``'s messages:
    ``str()``, ``pk``, its concrete plain fields whose names hide nothing, plus what a message about
    it needs: a forward foreign key (shown the same way), ``get_FOO_display`` of a field it may read,
    and ``get_absolute_url``. Never a method, a property, a manager or a reverse relation: the names
    a template reads are checked when it is saved, and this is what stands behind that check, also
    for templates a file includes or extends. Anything else reads as missing (an empty string)."""

    __slots__ = ("_obj",)

    def __init__(self, obj: models.Model) -> None:
        object.__setattr__(self, "_obj", obj)

    def __str__(self) -> str:
        return str(self._obj)

    def __getattr__(self, name: str) -> Any:
        obj = self._obj
        if capture.is_hidden(name):
            raise AttributeError(name)
        if name == "get_absolute_url" and hasattr(obj, "get_absolute_url"):
            return obj.get_absolute_url
        field_name = name[4:-8] if name.startswith("get_") and name.endswith("_display") else name
        meta = obj._meta
        try:
            field = meta.pk if field_name == "pk" else meta.get_field(field_name)
        except FieldDoesNotExist:
            raise AttributeError(name) from None
        if field is None or capture.is_hidden(field.name):
            raise AttributeError(name)
        if field_name != name:  # get_FOO_display
            if not (isinstance(field, models.Field) and field.choices and field.concrete and not field.is_relation):
                raise AttributeError(name)
            return getattr(obj, name)
        if isinstance(field, models.ForeignKey) and field.name == name:
            related = getattr(obj, name)
            return Visible(related) if related is not None else None
        try:
            return _model_field_value(obj, "{" + name + "}", name)
        except MessageFormatError:
            raise AttributeError(name) from None


def visible(value: Any) -> Any:
    """``value`` with every model object in it (at the top, or in a list or dict) behind :class:`Visible`;
    a model class as its name (a template would call it)."""
    if isinstance(value, models.Model):
        return Visible(value)
    if _is_model(value):
        return str(value._meta.verbose_name)
    if isinstance(value, (list, tuple)):
        return [visible(item) for item in value]
    if isinstance(value, dict):
        return {key: visible(item) for key, item in value.items()}
    return value


def render(template: Template | None, context: Mapping[str, Any]) -> str:
    """The message: ``template`` over ``context`` (autoescape off, model objects behind
    :class:`Visible`), stripped; the default message for None."""
    if template is None:
        return default_message(context)
    shown = {key: visible(value) for key, value in context.items()}
    return template.render(Context(shown, autoescape=False)).strip()


def render_url(text: str, context: Mapping[str, Any]) -> str:
    return render(check_syntax(text), context) if text.strip() else ""


def default_message(context: Mapping[str, Any]) -> str:
    """"Project “Apollo” was updated." (or created, deleted); "Something happened" without an instance."""
    instance = context.get("instance")
    if instance is None:
        return _("%(name)s happened.") % {"name": context.get("trigger_name") or _("Something")}
    values = {"model": str(type(instance)._meta.verbose_name).capitalize(), "object": str(instance)}
    method = context.get("method")
    if method == "create":
        return _("%(model)s “%(object)s” was created.") % values
    if method == "delete":
        return _("%(model)s “%(object)s” was deleted.") % values
    changed = list(context.get("changed_data") or ())
    if changed:
        return _("%(model)s “%(object)s” was updated: %(fields)s.") % {**values, "fields": ", ".join(changed)}
    return _("%(model)s “%(object)s” was updated.") % values


def summary_message(count: int, model: type[models.Model] | None, methods: set[str]) -> str:
    """"1,000 projects were updated": one notification for a batch past INBOX["RULES_BATCH_SUMMARY"]."""
    if model is not None:
        noun = str(model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural)
    else:
        noun = ngettext("object", "objects", count)
    values = {"count": formats.number_format(count, force_grouping=True), "models": noun}
    if methods == {"create"}:
        return ngettext("%(count)s %(models)s was created.", "%(count)s %(models)s were created.", count) % values
    if methods == {"update"}:
        return ngettext("%(count)s %(models)s was updated.", "%(count)s %(models)s were updated.", count) % values
    if methods == {"delete"}:
        return ngettext("%(count)s %(models)s was deleted.", "%(count)s %(models)s were deleted.", count) % values
    return ngettext("%(count)s %(models)s was changed.", "%(count)s %(models)s were changed.", count) % values


def as_message(text: str) -> str:
    """Rendered text as a ``send()`` message that stores exactly that text: cut to
    ``INBOX["MAX_MESSAGE_LENGTH"]``, its brackets doubled (no shortcode), its braces doubled (no field)."""
    limit = conf.get("MAX_MESSAGE_LENGTH")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return shortcodes.escape(text).replace("{", "{{").replace("}", "}}")


def model_extra(label: str | None, instance: models.Model | None, pk: Any, method: str,
                changed_data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Seed 002's shape: ``{"model", "instance": {"pk", "repr"}, "method", "changed_data"}`` (JSON)."""
    return {
        "model": label or "",
        "instance": {"pk": capture.to_json(pk), "repr": str(instance) if instance is not None else ""},
        "method": method,
        "changed_data": capture.to_json(dict(changed_data or {})),
    }


# -- For the admin ------------------------------------------------------------------------------


@dataclasses.dataclass
class Prepared:
    message: str
    url: str
    actor: models.Model | None
    target: models.Model | None
    extra: dict[str, Any]


def _as_object(value: Any, path: str) -> models.Model | None:
    if value is None:
        return None
    if not isinstance(value, models.Model) or value.pk is None:
        raise ValidationError(_("%(path)s is not a saved model object."), code="path", params={"path": path})
    return value


def prepare_test(subscription_or_text: Subscription | str, instance: models.Model, user: Any) -> Prepared:
    """What a rule would send for ``instance`` if ``user`` had just updated it (``changed_data`` is what
    differs from the stored row, usually nothing). ``ValidationError`` when it does not render."""
    from inbox.contrib.rules.index import split_names

    text, name, url_text = (subscription_or_text, "", "") if isinstance(subscription_or_text, str) else (
        subscription_or_text.template, subscription_or_text.template_name, subscription_or_text.url_template)
    trigger = None if isinstance(subscription_or_text, str) else subscription_or_text.trigger
    model = type(instance)
    try:
        actor = user
        target: models.Model | None = instance
        if trigger is not None and trigger.actor_field.strip():
            actor = _as_object(capture.resolve_path(instance, trigger.actor_field.strip()), trigger.actor_field)
        if trigger is not None and trigger.target_field.strip():
            target = _as_object(capture.resolve_path(instance, trigger.target_field.strip()), trigger.target_field)
    except capture.PathError as error:
        raise ValidationError(str(error), code="path") from None
    fields = capture.tracked_fields(model, exclude=split_names(trigger.exclude_fields) if trigger else ())
    before = None
    if instance.pk is not None:
        before = (model._base_manager.filter(pk=instance.pk)
                  .values(*[field.attname for field in fields]).first())
    changed = capture.changed(instance, fields, before) or {}
    context = build_context(instance=instance, sender=model, actor=actor, target=target, created=False,
                            method="update", changed_data=changed)
    try:
        message = render(load(text, name), context)
        url = render_url(url_text, context)
    except ValidationError:
        raise
    except Exception as error:
        raise ValidationError(_("The template does not render: %(error)s"), code="render",
                              params={"error": f"{type(error).__name__}: {error}"}) from None
    extra = model_extra(model._meta.label_lower, instance, instance.pk, "update", changed)
    return Prepared(message, url, actor if isinstance(actor, models.Model) else None, target, extra)


def preview(subscription_or_template_text: Subscription | str, instance: models.Model, user: Any) -> str:
    """The message the rule (or template text) would send for ``instance``, as if ``user`` had updated
    it. ``ValidationError`` when it does not render."""
    return prepare_test(subscription_or_template_text, instance, user).message
