"""Message templates: ``str.format`` syntax, checked before anything is written.

Attribute and index access is allowed (``{actor.username}``, ``{target.title}``)
but names starting with an underscore are not, so a template cannot walk from
an object to its class, module globals or settings.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from inbox.exceptions import MessageFormatError


class _GuardedFormatter(string.Formatter):
    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        first, rest = string._string.formatter_field_name_split(field_name)  # type: ignore[attr-defined]
        for is_attribute, name in rest:
            if is_attribute and str(name).startswith("_"):
                raise MessageFormatError(
                    _("Message field {field} uses a private attribute.").replace("{field}", repr(field_name))
                )
        return super().get_field(field_name, args, kwargs)


_formatter = _GuardedFormatter()


class MessageTemplate:
    """A parsed message; ``render`` fills it, raising MessageFormatError when it does not fit."""

    def __init__(self, template: str) -> None:
        if not isinstance(template, str):
            raise MessageFormatError(f"A message must be a string, not {type(template).__name__}.")
        self.template = template
        try:
            parsed = list(_formatter.parse(template))
        except ValueError as error:
            raise MessageFormatError(f"Bad message format {template!r}: {error}.") from None
        self.fields = {
            string._string.formatter_field_name_split(name)[0]  # type: ignore[attr-defined]
            for _literal, name, _spec, _conversion in parsed
            if name is not None
        }
        self.is_plain = not self.fields

    @property
    def uses_recipient(self) -> bool:
        return "recipient" in self.fields

    def render(self, context: Mapping[str, Any]) -> str:
        if self.is_plain:
            # A literal "{{" still needs unescaping.
            return self.template.format() if "{" in self.template or "}" in self.template else self.template
        try:
            return _formatter.vformat(self.template, (), context)
        except MessageFormatError:
            raise
        except (KeyError, IndexError, AttributeError, ValueError, TypeError) as error:
            raise MessageFormatError(
                f"Message {self.template!r} does not fit its arguments: {type(error).__name__}: {error}. "
                f"Available: {', '.join(sorted(context))}."
            ) from None
