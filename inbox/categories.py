"""The category registry: what each notification category is called, in what order it is shown.

Categories are slugs on each notification (``send(..., category="comments")``). The registry
gives them a label, a description, an order and an icon for the inbox's tabs and chips (and,
later, default channels and whether a person may turn them off). Declare them in settings::

    INBOX = {"CATEGORIES": [
        {"slug": "comments", "label": _("Comments"), "icon": "comment", "order": 10},
        {"slug": "security", "label": _("Security"), "icon": "shield", "locked": True},
        "deploys",                                 # a bare slug: label "Deploys", default order
    ]}

or in code, ``categories.register(Category("billing", _("Billing")))``. A slug nobody declared
still works everywhere: it is shown with a label made from the slug.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import Promise

from inbox import conf

#: A category slug, end to end (\Z: $ would also accept a trailing newline).
_SLUG = re.compile(r"\A[-a-zA-Z0-9_]{1,64}\Z")
_FIELDS = {"slug", "label", "description", "icon", "order", "default_channels", "locked"}


def is_slug(value: object) -> bool:
    """Whether ``value`` can name a category: 1 to 64 letters, digits, "-" or "_"."""
    return isinstance(value, str) and _SLUG.match(value) is not None


@dataclasses.dataclass(frozen=True)
class Category:
    slug: str
    label: str | Promise = ""
    description: str | Promise = ""
    #: A name from the kit's icon set (see docs/ui.md); empty for the default.
    icon: str = ""
    #: Tabs and chips are sorted by order, then label.
    order: int = 100
    #: Channels a notification of this category goes to when send() names none (channels issue).
    default_channels: tuple[str, ...] = ()
    #: A locked category cannot be turned off by the person receiving it (a security notice).
    locked: bool = False

    def __post_init__(self) -> None:
        if not is_slug(self.slug):
            raise ImproperlyConfigured(f"A category slug must be a slug of 1 to 64 characters, not {self.slug!r}.")
        if not self.label:
            object.__setattr__(self, "label", self.slug.replace("-", " ").replace("_", " ").capitalize())
        object.__setattr__(self, "default_channels", tuple(self.default_channels))


class CategoryRegistry:
    """Every declared category; ``inbox.categories.registry`` is the instance the kit reads."""

    def __init__(self) -> None:
        self._registered: dict[str, Category] = {}

    def register(self, category: Category) -> Category:
        self._registered[category.slug] = category
        return category

    def unregister(self, slug: str) -> None:
        self._registered.pop(slug, None)

    def get(self, slug: str) -> Category:
        """The category for ``slug``: declared in settings or code, else one made from the slug."""
        declared = _from_settings().get(slug) or self._registered.get(slug)
        return declared or Category(slug)

    def __iter__(self) -> Iterator[Category]:
        """Declared categories, in display order."""
        merged = {**self._registered, **_from_settings()}
        return iter(sorted(merged.values(), key=lambda c: (c.order, str(c.label).lower(), c.slug)))

    def __contains__(self, slug: object) -> bool:
        return isinstance(slug, str) and (slug in _from_settings() or slug in self._registered)


_parsed: tuple[Any, dict[str, Category]] = (None, {})


def _from_settings() -> dict[str, Category]:
    """INBOX["CATEGORIES"], parsed once per value of the setting (it may change in tests)."""
    global _parsed
    value = conf.get("CATEGORIES")
    if _parsed[0] is not value:
        _parsed = (value, {category.slug: category for category in parse(value)})
    return _parsed[1]


def parse(value: Any) -> list[Category]:
    """Categories from the setting's form: slugs, or dicts with ``slug`` and optional fields."""
    if not isinstance(value, (list, tuple)):
        raise ImproperlyConfigured("INBOX['CATEGORIES'] must be a list of slugs or dicts.")
    result = []
    for item in value:
        if isinstance(item, str):
            result.append(Category(item))
        elif isinstance(item, Mapping):
            unknown = set(item) - _FIELDS
            if unknown or "slug" not in item:
                raise ImproperlyConfigured(
                    f"INBOX['CATEGORIES'] entry {dict(item)!r} needs a 'slug' and only these keys: "
                    f"{', '.join(sorted(_FIELDS))}."
                )
            result.append(Category(**item))
        else:
            raise ImproperlyConfigured(f"INBOX['CATEGORIES'] entries are slugs or dicts, not {item!r}.")
    return result


registry = CategoryRegistry()
register = registry.register
get = registry.get
