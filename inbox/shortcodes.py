"""Shortcodes: ``[name attr=value]`` tags in message text, expanded when the text is shown.

A site registers a handler per name; the kit expands the tags wherever it shows a message (the
pages, toasts, e-mails, Slack, webhooks, the JSON API)::

    from inbox.shortcodes import SHORTCODES

    @SHORTCODES.register()
    def user(shortcode, context):
        return User.objects.get(pk=shortcode.attrs["id"]).get_full_name()

    notifier.send("[user id=7] approved your request", [bob])    # "Ada Lovelace approved ..."

The grammar, in full:

- ``[name]``, ``[name a=1 b="two words" c='x']`` and ``[name ...]content[/name]``. A name starts
  with an ASCII letter, then letters, digits, ``_`` or ``-`` (64 at most); an attribute is
  ``key=value`` with an unquoted value (no spaces or quotes) or a value in ``"`` or ``'``.
- ``[[`` is a literal ``[`` and ``]]`` a literal ``]``, so ``[[user id=1]]`` shows ``[user id=1]``.
- A tag holds no ``[`` or ``]`` between its brackets, quoted or not, and at most
  :data:`MAX_TAG_LENGTH` characters and :data:`MAX_ATTRS` attributes; a repeated attribute, a
  bare word or a stray quote makes it malformed.
- Content runs to the next ``[``, which must be the matching ``[/name]``: a tag inside another's
  content is refused, and the outer tag stays as written. A name used with content somewhere in a
  message is read as enclosing everywhere in it; a ``[name]`` that does not enclose then stays
  as written too.
- Unknown names, malformed tags and closing tags that close nothing stay as literal text. At
  most :data:`MAX_TAGS` tags are expanded per message; the rest stay as written.

Handlers are ``handler(shortcode, context) -> str``, where ``shortcode`` is a :class:`Shortcode`
and ``context`` holds ``notification`` and ``request`` (None when not known). A handler's plain
``str`` is text: :func:`expand_html` escapes it. Only a ``SafeString`` the handler built itself
(``format_html``) passes as HTML, and :func:`expand_text` reduces that to its text. A handler that
raises is logged (logger ``inbox.shortcodes``) and its tag shows as written: a page never fails
because of one. Handlers run each time a message is shown, so keep them cheap.

Parsing is linear in the message's length, with no regular expression that could backtrack
over it, and the work is bounded per message; a message without brackets is returned as it is.

Safe against injection: a shortcode can only come from a message template's own text. The values
``notifier.send()`` fills in (``{comment}`` from ``extra``, ``{actor}``'s name...) are always
text: :class:`Layout` escapes their brackets (``[`` -> ``[[``) and the template's stray ones, so
a user whose name is ``[user id=1]`` shows as exactly that.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

from django.utils.functional import Promise
from django.utils.html import escape as escape_html
from django.utils.html import strip_tags
from django.utils.safestring import SafeData, SafeString, mark_safe

logger = logging.getLogger("inbox.shortcodes")

#: Tags expanded in one message at most; the ones after them stay as written.
MAX_TAGS = 50
#: Characters between a tag's brackets at most; a longer one stays as written.
MAX_TAG_LENGTH = 500
#: Attributes of one tag at most.
MAX_ATTRS = 20

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]{0,63})=")
_SPACE = re.compile(r"\s+")
_UNQUOTED = re.compile(r"[^\s\"']+")
_BRACKET = re.compile(r"[\[\]]")


@dataclasses.dataclass(frozen=True)
class Shortcode:
    """One tag as a handler gets it: ``[name a=1]content[/name]``."""

    name: str
    attrs: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The text between ``[name]`` and ``[/name]`` (escapes resolved); None for a lone tag.
    content: str | None = None


Handler = Callable[[Shortcode, Mapping[str, Any]], Any]


class ShortcodeRegistry:
    """Handlers by name. ``@registry.register()`` names one after its function."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def register(self, name: str | Handler | None = None, *, replace: bool = False) -> Callable[[Handler], Handler]:
        """``@registry.register()``, ``@registry.register("user")`` (or ``@registry.register``).

        A name already taken by another handler is a ValueError unless ``replace=True``.
        """
        if callable(name):  # used bare, as @registry.register
            return self.register(replace=replace)(name)  # type: ignore[return-value]

        def decorator(handler: Handler) -> Handler:
            tag = name if name is not None else getattr(handler, "__name__", "")
            if not isinstance(tag, str) or not _NAME.fullmatch(tag):
                raise ValueError(
                    f"{tag!r} is not a shortcode name: an ASCII letter, then letters, digits, _ or - (64 at most)."
                )
            with self._lock:
                existing = self._handlers.get(tag)
                if existing is not None and existing is not handler and not replace:
                    raise ValueError(f"The shortcode {tag!r} is already registered; pass replace=True to replace it.")
                self._handlers[tag] = handler
            return handler

        return decorator

    def unregister(self, name: str) -> Handler | None:
        """Forget ``name``; returns its handler, or None when it had none."""
        with self._lock:
            return self._handlers.pop(name, None)

    def get(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def names(self) -> list[str]:
        return sorted(self._handlers)


#: The kit's registry (``inbox.contrib.drf.serializers.SHORTCODES_REGISTRY`` is the same object).
SHORTCODES = ShortcodeRegistry()


# -- Lexing ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Text:
    text: str  # as shown: escapes resolved


@dataclasses.dataclass
class _Tag:
    source: str  # exactly as written, brackets included
    name: str
    attrs: dict[str, str] | None  # None for a closing tag


_Token = Union[_Text, _Tag]


def _parse_body(body: str) -> tuple[str, dict[str, str] | None] | None:
    """``name a=1 b="x"`` -> ``("name", {...})``; ``/name`` -> ``("name", None)``; None if malformed.

    Runs once per tag over at most MAX_TAG_LENGTH characters, each regex anchored at a position.
    """
    if body.startswith("/"):
        return (body[1:], None) if _NAME.fullmatch(body, 1) else None
    match = _NAME.match(body)
    if match is None:
        return None
    name, pos = match.group(), match.end()
    attrs: dict[str, str] = {}
    length = len(body)
    while pos < length:
        space = _SPACE.match(body, pos)
        if space is None:
            return None
        pos = space.end()
        if pos == length:
            break
        key = _KEY.match(body, pos)
        if key is None or key.group(1) in attrs or len(attrs) >= MAX_ATTRS:
            return None
        pos = key.end()
        if pos < length and body[pos] in "\"'":
            end = body.find(body[pos], pos + 1)
            if end < 0:
                return None
            value, pos = body[pos + 1 : end], end + 1
        else:
            unquoted = _UNQUOTED.match(body, pos)
            if unquoted is None:
                return None
            value, pos = unquoted.group(), unquoted.end()
        attrs[key.group(1)] = value
    return name, attrs


def _lex(text: str) -> list[_Token]:
    """Text and tags, left to right, in one pass: every character is looked at a bounded number
    of times (the next ``[`` and ``]`` are remembered, never searched for twice)."""
    tokens: list[_Token] = []
    buffer: list[str] = []
    length = len(text)
    next_open = next_close = -1  # the next "[" / "]" after the current one; length when none
    i = 0
    while i < length:
        found = _BRACKET.search(text, i)
        if found is None:
            buffer.append(text[i:])
            break
        at = found.start()
        if at > i:
            buffer.append(text[i:at])
        char = text[at]
        if at + 1 < length and text[at + 1] == char:  # "[[" or "]]"
            buffer.append(char)
            i = at + 2
            continue
        i = at + 1
        if char == "]":
            buffer.append(char)
            continue
        if next_close <= at:
            found_close = text.find("]", at + 1)
            next_close = found_close if found_close >= 0 else length
        if next_open <= at:
            found_open = text.find("[", at + 1)
            next_open = found_open if found_open >= 0 else length
        parsed = None
        if next_close < min(next_open, length) and next_close - at - 1 <= MAX_TAG_LENGTH:
            parsed = _parse_body(text[at + 1 : next_close])
        if parsed is None:
            buffer.append(char)
            continue
        if buffer:
            tokens.append(_Text("".join(buffer)))
            buffer = []
        tokens.append(_Tag(text[at : next_close + 1], parsed[0], parsed[1]))
        i = next_close + 1
    if buffer:
        tokens.append(_Text("".join(buffer)))
    return tokens


# -- Expanding ------------------------------------------------------------------------------------


def _as_text(result: Any) -> str:
    text = str(result)
    return html.unescape(strip_tags(text)) if isinstance(result, SafeData) else text


def _as_html(result: Any) -> str:
    return str(result) if isinstance(result, SafeData) else escape_html(str(result))


def _expand(message: Any, context: Mapping[str, Any] | None, *, as_html: bool) -> str:
    text = message if isinstance(message, str) else str(message)
    show = escape_html if as_html else str
    if "[" not in text:  # the fast path: nothing to parse
        return show(text.replace("]]", "]") if "]" in text else text)
    tokens = _lex(text)
    closing = Counter(token.name for token in tokens if isinstance(token, _Tag) and token.attrs is None)
    handler_context = {"notification": None, "request": None, **(context or {})}
    out: list[str] = []
    expanded = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if isinstance(token, _Text):
            out.append(show(token.text))
            continue
        if token.attrs is None:  # a closing tag that closes nothing
            closing[token.name] -= 1
            out.append(show(token.source))
            continue
        handler = SHORTCODES.get(token.name)
        content: str | None = None
        written = token.source
        if closing[token.name] > 0:  # read as enclosing: its content runs to the next tag, [/name]
            following = tokens[index] if index < len(tokens) else None
            step = 1
            if isinstance(following, _Text):
                content = following.text
                following = tokens[index + 1] if index + 1 < len(tokens) else None
                step = 2
            if not (isinstance(following, _Tag) and following.attrs is None and following.name == token.name):
                out.append(show(token.source))  # a tag in its content (nesting), or no [/name] after it
                continue
            content = content or ""
            written = token.source + content + following.source
            closing[token.name] -= 1
            index += step
        if handler is None or expanded >= MAX_TAGS:
            out.append(show(written))
            continue
        expanded += 1
        try:
            result = handler(Shortcode(token.name, dict(token.attrs), content), handler_context)
            if not isinstance(result, (str, Promise)):
                raise TypeError(f"a shortcode handler must return a str, not {type(result).__name__}")
            out.append(_as_html(result) if as_html else _as_text(result))
        except Exception:
            notification = handler_context.get("notification")
            logger.exception(
                "The shortcode [%s] failed (notification %s); it is shown as written.",
                token.name, getattr(notification, "uid", None),
            )
            out.append(show(written))
    return "".join(out)


def expand_text(message: Any, context: Mapping[str, Any] | None = None) -> str:
    """``message`` as plain text, its shortcodes expanded (HTML a handler returns reduced to text)."""
    return _expand(message, context, as_html=False)


def expand_html(message: Any, context: Mapping[str, Any] | None = None) -> SafeString:
    """``message`` as HTML: everything escaped except the SafeStrings handlers built themselves."""
    return mark_safe(_expand(message, context, as_html=True))


def escape(text: str) -> str:
    """``text`` as a literal in message text: every ``[`` and ``]`` doubled, so nothing in it is a tag."""
    return text.replace("[", "[[").replace("]", "]]")


def shown_length(text: str) -> int:
    """How many characters ``text`` shows before any tag is expanded: ``[[`` counts as one."""
    if "[" not in text:
        return len(text) - text.count("]]")
    return sum(len(token.text) if isinstance(token, _Text) else len(token.source) for token in _lex(text))


# -- Message templates: where values go ---------------------------------------------------------


def _quote(value: str) -> str | None:
    """An attribute value as written in a tag, or None when it cannot be written in one."""
    if "[" in value or "]" in value:
        return None
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    return None


class Layout:
    """A message template's text with a ``hole`` character where each value goes.

    The template's tags are found once, with the holes in place; :meth:`fill` then writes the
    values so that none of them can start, end or rename a tag:

    - a value in the text (``{comment}``, or ``[{project}]`` where the template's ``[`` cannot
      start a tag: a name is never a value) has its brackets escaped, and so do the template's
      own literal brackets beside it;
    - a value inside a tag may only be an attribute's value (``[user id={actor.pk}]``,
      ``[link title="{comment}"]``); it is written quoted, and a value that cannot be (it holds
      both quotes, or a bracket) turns that tag into literal text rather than change it;
    - the template's tags without a value in them are kept exactly as written.
    """

    def __init__(self, text: str, hole: str) -> None:
        if len(hole) != 1:
            raise ValueError("the hole must be one character")
        self.hole = hole
        self.holes = text.count(hole)
        self._tokens = _lex(text)

    def fill(self, values: Sequence[str]) -> str:
        if len(values) != self.holes:
            raise ValueError(f"{self.holes} values expected, {len(values)} given")
        remaining = iter(values)

        def filled(part: str, values: Any) -> str:
            pieces = part.split(self.hole)
            return pieces[0] + "".join(next(values) + piece for piece in pieces[1:])

        out = []
        for token in self._tokens:
            if isinstance(token, _Text):
                out.append(escape(filled(token.text, remaining)))
            elif self.hole not in token.source:
                out.append(token.source)
            else:  # only attribute values can hold a hole: names and keys are ASCII
                own = [next(remaining) for _ in range(token.source.count(self.hole))]
                taken = iter(own)
                quoted = {key: _quote(filled(value, taken)) for key, value in (token.attrs or {}).items()}
                if all(value is not None for value in quoted.values()):
                    out.append("[" + token.name + "".join(f" {key}={value}" for key, value in quoted.items()) + "]")
                else:  # the tag becomes literal text rather than change
                    out.append(escape(filled(token.source, iter(own))))
        return "".join(out)


def free_character(text: str) -> str:
    """A private-use character that ``text`` does not contain (to mark holes in it)."""
    for code in range(0xE000, 0xF900):
        if chr(code) not in text:
            return chr(code)
    raise ValueError("the text uses every private-use character")
