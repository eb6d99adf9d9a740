"""Message templates: ``str.format`` syntax under a safe rule, checked before anything is written.

``notifier.send(message, ...)`` formats ``message`` over ``actor``, ``action``, ``target``,
``recipient`` and the keys of ``extra``. What a template may read:

- ``{actor}``, ``{target}``...: a model object renders as its ``str()``;
- ``{actor.username}``: one concrete, non-relational, non-JSON field of that object's model, whose
  name contains none of the words in ``INBOX["MESSAGE_HIDDEN_FIELDS"]`` (case-insensitive;
  by default ``password``, ``email``, ``token``, ``secret``, ``key``...). ``{actor.pk}``
  names the primary key. Properties, methods, relations (``{target.owner}``), reverse
  relations, walks (``{target.owner.email}``), indexes and private names are refused;
- ``{comment}``, ``{counts[open]}``, ``{items[0]}``: ``extra``'s values, which are plain JSON
  data: index and key access into its dicts and lists, never attribute access.

The same holds for fields nested in a format spec (``{actor:{recipient.username}}``), and a
spec may not pad past ``INBOX["MAX_MESSAGE_LENGTH"]``, the most characters a rendered message
may have. Names and attribute chains are checked when the template is parsed, so a bad
template fails before any query; what depends on the objects' types (is ``owner`` a concrete
field?) is checked when rendering, which ``send()`` does before it writes anything. Every
refusal is a :class:`~inbox.exceptions.MessageFormatError`.

Text from users goes only through ``extra``, never into the template itself::

    notifier.send("{actor} said: {comment}", recipients, actor=user, extra={"comment": text})

Concatenating it (``"{actor} said: " + text``) would let the user write fields of their own;
the rule above bounds what they could read, but their text would still fail to send whenever
it contains a brace. See docs/core.md, "Message templates".

Every value filled in is text, never a shortcode (:mod:`inbox.shortcodes`): its ``[`` and ``]``
are stored doubled, and so are the template's literal brackets beside values, so only the
template's own tags expand when the message is shown. The length limit counts the message as
shown (``[[`` once). See docs/core.md, "Shortcodes".
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.translation import gettext as _

from inbox import conf, shortcodes
from inbox.exceptions import MessageFormatError, MessageTooLongError

#: The names that hold model objects; every other name is a key of ``extra``.
OBJECT_NAMES = frozenset({"actor", "action", "target", "recipient"})

_CONVERSIONS = (None, "s", "r", "a")
_NUMBER = re.compile(r"\d+")
_FIELD_IN_ERROR = 80  # characters of a field name quoted in an error message


def _split(field_name: str) -> tuple[str | int, list[tuple[bool, str | int]]]:
    """``"a.b[0]"`` -> ``("a", [(True, "b"), (False, 0)])``; MessageFormatError when malformed."""
    try:
        first, rest = string._string.formatter_field_name_split(field_name)  # type: ignore[attr-defined]
        return first, list(rest)
    except ValueError as error:
        raise _error(_("The message field %(field)s is malformed: %(error)s."), field_name, error=error) from None


def _error(text: str, field_name: str, **values: Any) -> MessageFormatError:
    shown = field_name if len(field_name) <= _FIELD_IN_ERROR else field_name[:_FIELD_IN_ERROR] + "…"
    return MessageFormatError(text % {"field": "{" + shown + "}", **values})


def hidden_words() -> list[str]:
    return [word.lower() for word in conf.get("MESSAGE_HIDDEN_FIELDS")]


def _check_attribute(field_name: str, name: str) -> None:
    if name.startswith("_"):
        raise _error(_("The message field %(field)s reads a private name."), field_name)
    lowered = name.lower()
    if any(word in lowered for word in hidden_words()):
        raise _error(
            _("The message field %(field)s reads a hidden field (see INBOX[\"MESSAGE_HIDDEN_FIELDS\"])."),
            field_name,
        )


def _check_field_name(field_name: str) -> str:
    """The static part of the rule, for one replacement field; returns its top-level name."""
    first, rest = _split(field_name)
    if isinstance(first, int) or first == "":
        raise _error(_("The message field %(field)s is positional: name a field instead."), field_name)
    if first in OBJECT_NAMES:
        if len(rest) > 1:
            raise _error(
                _("The message field %(field)s walks through an object: read one field of it at most."), field_name
            )
        if rest:
            is_attribute, name = rest[0]
            if not is_attribute:
                raise _error(_("The message field %(field)s indexes an object: read one of its fields."), field_name)
            _check_attribute(field_name, str(name))
    elif any(is_attribute for is_attribute, _name in rest):
        raise _error(
            _("The message field %(field)s reads an attribute of extra data: use [key] or [index]."), field_name
        )
    return first


def _check_spec_numbers(spec: str, limit: int) -> None:
    # A width or precision is the one way a short template makes a long string, and format()
    # would build it in full before the length check could refuse it.
    if any(len(number) > 9 or int(number) > limit for number in _NUMBER.findall(spec)):
        raise MessageTooLongError(
            _("A format spec in the message pads past the longest message allowed (%(limit)d characters).")
            % {"limit": limit}
        )


def _split_template(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(template))
    except ValueError as error:
        raise MessageFormatError(_("The message is not a valid format string: %(error)s.") % {"error": error}) from None


def _parse(template: str, depth: int = 0) -> Iterator[str]:
    """Check ``template`` statically; yields the top-level name of every field, nested ones too."""
    limit = conf.get("MAX_MESSAGE_LENGTH")
    for _literal, field_name, spec, conversion in _split_template(template):
        if field_name is None:
            continue
        yield _check_field_name(field_name)
        if conversion not in _CONVERSIONS:
            raise _error(_("The message field %(field)s uses an unknown conversion."), field_name)
        if spec:
            if depth >= 1:  # str.format allows one level of fields inside a spec
                raise _error(_("The message field %(field)s nests format specs too deeply."), field_name)
            literal_spec = "".join(part[0] for part in _split_template(spec))
            _check_spec_numbers(literal_spec, limit)
            yield from _parse(spec, depth + 1)


def _model_field_value(obj: models.Model, field_name: str, name: str) -> Any:
    """The value of ``obj``'s concrete, non-relational, non-hidden field ``name``."""
    _check_attribute(field_name, name)
    meta = obj._meta
    found: Any
    try:
        found = meta.pk if name == "pk" else meta.get_field(name)
    except FieldDoesNotExist:
        found = None
    # get_field also answers for reverse relations, generic relations and a foreign
    # key's "<name>_id": only a field stored in this model's own row under this name passes.
    if (
        not isinstance(found, models.Field)
        or not found.concrete
        or found.is_relation
        or (name != "pk" and found.name != name)
    ):
        raise _error(
            _("The message field %(field)s is not a plain field of %(model)s: read its own columns only."),
            field_name,
            model=meta.label,
        )
    field: models.Field = found
    _check_attribute(field_name, field.name)  # "pk" may stand for a hidden field
    if isinstance(field, models.JSONField):
        # Printed whole, a JSON document would show every key in it, hidden names ("owner_email") too.
        raise _error(
            _("The message field %(field)s reads a JSON field of %(model)s: pass the values it needs in extra."),
            field_name,
            model=meta.label,
        )
    # Read the loaded value rather than through the class, where a subclass's property could
    # stand in for the field; a deferred field loads from the database as usual.
    if field.attname in obj.__dict__:
        return obj.__dict__[field.attname]
    return field.value_from_object(obj)


def _data_item(container: Any, key: str | int, field_name: str) -> Any:
    # KeyError and IndexError become MessageFormatError in render().
    if isinstance(container, Mapping):
        return container[key]
    if isinstance(container, Sequence) and not isinstance(container, (str, bytes)) and isinstance(key, int):
        return container[key]
    raise _error(_("The message field %(field)s indexes a value that is not a dict or a list."), field_name)


class _SafeFormatter(string.Formatter):
    """Resolves fields by the safe rule instead of ``getattr``: nothing else is ever read."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        first, rest = _split(field_name)
        if isinstance(first, int) or first not in kwargs:
            raise _error(
                _("The message field %(field)s names nothing given; available: %(names)s."),
                field_name,
                names=", ".join(sorted(kwargs)),
            )
        value = kwargs[first]
        if isinstance(value, models.Model):
            if len(rest) > 1 or (rest and not rest[0][0]):
                raise _error(_("The message field %(field)s reads more than one field of an object."), field_name)
            value = _model_field_value(value, field_name, str(rest[0][1])) if rest else str(value)
        elif first in OBJECT_NAMES and rest:
            raise _error(_("The message field %(field)s reads a field of an object that was not given."), field_name)
        else:
            for is_attribute, key in rest:
                if is_attribute:
                    raise _error(
                        _("The message field %(field)s reads an attribute of extra data: use [key] or [index]."),
                        field_name,
                    )
                value = _data_item(value, key, field_name)
        if isinstance(value, models.Model):  # data that holds an object still shows only its str()
            value = str(value)
        return value, str(first)

    def format_field(self, value: Any, format_spec: str) -> Any:
        # The spec may come from a nested field, so its numbers are checked again here.
        _check_spec_numbers(format_spec, conf.get("MAX_MESSAGE_LENGTH"))
        return format(value, format_spec)


_formatter = _SafeFormatter()


class MessageTemplate:
    """A parsed, checked message; ``render`` fills it, raising MessageFormatError when it does not fit."""

    def __init__(self, template: str) -> None:
        if not isinstance(template, str):
            raise MessageFormatError(
                _("A message must be a string, not %(type)s.") % {"type": type(template).__name__}
            )
        self.template = template
        #: The top-level names the template reads, including those nested in format specs.
        self.fields: frozenset[str] = frozenset(_parse(template))
        self.is_plain = not self.fields
        #: (field name, spec, conversion) of each top-level field, in order.
        self._replacements: list[tuple[str, str, str | None]] = []
        self._layout: shortcodes.Layout | None = None
        if not self.is_plain:
            chunks = _split_template(template)
            hole = shortcodes.free_character(template)
            self._replacements = [(name, spec or "", conversion) for _text, name, spec, conversion in chunks
                                  if name is not None]
            # Where each value lands among the template's shortcodes, worked out once.
            self._layout = shortcodes.Layout(
                "".join(text + (hole if name is not None else "") for text, name, _spec, _conv in chunks), hole
            )

    @property
    def uses_recipient(self) -> bool:
        return "recipient" in self.fields

    @property
    def uses_actor(self) -> bool:
        """Whether the template shows the actor itself (a top-level ``{actor}``, any spec or conversion).

        Only that field takes a grouped row's phrase ("Alice and 4 others"); ``{actor.pk}`` and the
        like stay the newest actor's own values.
        """
        return any(name == "actor" for name, _spec, _conversion in self._replacements)

    def render(self, context: Mapping[str, Any], *, actor_phrase: Callable[[str], str] | None = None) -> str:
        """The message for ``context``; MessageTooLongError past ``INBOX["MAX_MESSAGE_LENGTH"]``.

        The template's own shortcodes stay tags; every value is text (see :class:`inbox.shortcodes.Layout`).
        ``actor_phrase`` rewrites what each top-level ``{actor}`` field shows (a grouped row's
        "Alice and 4 others"); the result is a value like any other, escaped the same way.
        """
        if self.is_plain and "{" not in self.template and "}" not in self.template:
            text = self.template
        else:
            try:
                if self._layout is None:  # only {{ and }}
                    text = _formatter.vformat(self.template, (), context)
                else:
                    text = self._layout.fill([self._value(*field, context, actor_phrase) for field in self._replacements])
            except MessageFormatError:
                raise
            except (LookupError, ValueError, TypeError, OverflowError) as error:
                raise MessageFormatError(
                    _("The message does not fit its arguments (%(error)s); available: %(names)s.")
                    % {"error": f"{type(error).__name__}: {error}", "names": ", ".join(sorted(context))}
                ) from None
        check_length(text)
        return text

    @staticmethod
    def _value(
        field_name: str,
        spec: str,
        conversion: str | None,
        context: Mapping[str, Any],
        actor_phrase: Callable[[str], str] | None = None,
    ) -> str:
        """One top-level field, as ``str.format`` would write it (a spec's own fields filled first)."""
        value, _name = _formatter.get_field(field_name, (), context)
        value = _formatter.convert_field(value, conversion)
        if spec:
            spec = _formatter.vformat(spec, (), context)
        text = str(_formatter.format_field(value, spec))
        return actor_phrase(text) if actor_phrase is not None and field_name == "actor" else text


def check_length(text: str) -> None:
    """MessageTooLongError when ``text`` shows more than ``INBOX["MAX_MESSAGE_LENGTH"]`` characters.

    What counts is the text as shown before its shortcodes are expanded: a ``[`` escaped as ``[[``
    (a value's brackets always are) counts once, so a user's brackets never halve the limit. The
    stored text may so be longer than the limit, up to twice for a message of brackets only.
    """
    limit = conf.get("MAX_MESSAGE_LENGTH")
    length = shortcodes.shown_length(text) if len(text) > limit else len(text)
    if length > limit:
        raise MessageTooLongError(
            _("A message may have at most %(limit)d characters; this one has %(length)d.")
            % {"limit": limit, "length": length}
        )
