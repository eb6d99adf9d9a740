"""Pages that never count: newest first by cursor, and seed 002's numbered pages.

A site's own ``REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]`` is used for the list when it sets one
(``PageNumberPagination`` then counts the rows, as it always does). Without one, the list pages by
cursor over the ``(recipient, sent_at, id)`` index: the same cost on page 1 and page 10,000 and no
``COUNT(*)``; the totals a client shows come from Stats (``me/notifications``, ``notifications/stats/``).
"""

from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.settings import api_settings

#: Rows per page when the site's REST_FRAMEWORK sets no PAGE_SIZE.
DEFAULT_PAGE_SIZE = 25
#: The most rows a client may ask for with ``page_size``.
MAX_PAGE_SIZE = 100


def page_size() -> int:
    return int(api_settings.PAGE_SIZE or DEFAULT_PAGE_SIZE)


class NewestFirstPagination(CursorPagination):
    """Newest first, by an opaque ``cursor``; ``page_size`` up to ``MAX_PAGE_SIZE``."""

    ordering = ("-sent_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return page_size()
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise serializers.ValidationError(
                {"page_size": [_("a whole number from 1 to %(most)d.") % {"most": MAX_PAGE_SIZE}]}
            )
        return size

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
            bad = True
        else:
            # The position is compared with sent_at: anything but a date and time is not ours either.
            bad = cursor is not None and cursor.position is not None and parse_position(str(cursor.position)) is None
        if bad:
            # A cursor is made by this API; one that does not decode is bad input, not a missing page.
            raise serializers.ValidationError({self.cursor_query_param: [_("not a cursor from this API.")]})
        return cursor


def parse_position(position: str) -> datetime | None:
    try:
        parsed = parse_datetime(position)
        if parsed is not None:
            parsed.astimezone(dt_timezone.utc)  # raises at the calendar's edges
        return parsed
    except (ValueError, OverflowError):
        return None


class NumberedPage:
    """Seed 002's ``page=N`` without a count: one row past the page says whether another follows."""

    #: Deep offsets cost a scan each; a client that needs more walks the list by cursor.
    MAX_PAGE = 1000

    def __init__(self, request: Request) -> None:
        raw = request.query_params.get("page", "1")
        try:
            number = int(raw)
        except ValueError:
            number = 0
        if not 1 <= number <= self.MAX_PAGE:
            raise serializers.ValidationError({"page": [_("a page number from 1 to %(most)d.") % {"most": self.MAX_PAGE}]})
        self.number = number
        self.size = page_size()
        self.has_next = False

    def rows(self, queryset: QuerySet) -> list[Any]:
        start = (self.number - 1) * self.size
        found = list(queryset[start : start + self.size + 1])
        self.has_next = len(found) > self.size
        return found[: self.size]

    @property
    def next_number(self) -> int | None:
        return self.number + 1 if self.has_next else None
