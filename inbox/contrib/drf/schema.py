"""OpenAPI descriptions through drf-spectacular when it is installed; nothing when it is not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _no_schema(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    return lambda view: view


extend_schema: Callable[..., Callable[[Any], Any]]
try:
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter
    from drf_spectacular.utils import extend_schema as extend_schema
except ImportError:  # the API works without it; only the schema needs it
    OpenApiParameter = None  # type: ignore[assignment,misc]
    extend_schema = _no_schema


#: Seed 000's filters, as they appear in the list's query string (inbox.contrib.api.params).
FILTERS: dict[str, str] = {
    "ids": "Notification uids, comma-separated or repeated: any of them.",
    "actors": "app_label.model~id, comma-separated or repeated: acted by any of them.",
    "actions": "app_label.model~id: about any of these actions.",
    "targets": "app_label.model~id: about any of these targets.",
    "actor_types": "app_label.model: acted by an object of any of these models.",
    "action_types": "app_label.model: actions of any of these models.",
    "target_types": "app_label.model: targets of any of these models.",
    "sent_at_before": "ISO 8601: sent at or before.",
    "sent_at_after": "ISO 8601: sent at or after.",
    "is_sent": "true: already sent; false: scheduled for later.",
    "is_root": "true: starting a thread; false: replies.",
    "parents": "Notification uids: replies to any of them.",
    "flags": "Flag values; flags=1,2&flags=4 means (1 or 2) and 4.",
}
TYPE_FILTERS = ("actor_types", "action_types", "target_types")


def parameters(names: tuple[str, ...] | None = None) -> list[Any]:
    if OpenApiParameter is None:
        return []
    return [
        OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY, description=description)
        for name, description in FILTERS.items()
        if names is None or name in names
    ]


def page_parameters() -> list[Any]:
    if OpenApiParameter is None:
        return []
    return [
        OpenApiParameter("page", OpenApiTypes.INT, OpenApiParameter.QUERY, description="Page number, from 1."),
        OpenApiParameter("is_read", OpenApiTypes.BOOL, OpenApiParameter.QUERY, description="Only read (true) or unread (false)."),
    ]
