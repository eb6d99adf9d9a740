"""The demo's notification rule, in code: who hears "a project's status changed".

The rule itself (a Trigger on post_save of demo.Project, when its status changed, and a
Subscription with its message) is a pair of rows in the admin that ``seed_demo`` creates; the
receivers are code, registered here under a name the admin offers in a list.
"""

from typing import Any

from django.db.models import QuerySet

from inbox.contrib.rules import receivers


@receivers("project_members")
def project_members(*, instance: Any = None, actor: Any = None, **signal_kwargs: Any) -> QuerySet | list:
    """The project's members, except whoever made the change (they know already)."""
    if instance is None:
        return []
    members = instance.members.all()
    return members.exclude(pk=actor.pk) if getattr(actor, "pk", None) is not None else members
