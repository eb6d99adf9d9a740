"""``{% load inbox %}``: template tags of the kit."""

from __future__ import annotations

from typing import Any

from django import template

from inbox import recipients, stats

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_stats(context: dict[str, Any]) -> stats.Counts:
    """``{% inbox_stats as counts %}{{ counts.unread }}``: the requester's counts, one query."""
    request = context.get("request")
    if request is None:
        return stats.Counts()
    return stats.counts_for(recipients.for_request(request))
