"""Who may use the API: whoever the site's recipients resolver gives at least one recipient."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class HasRecipients(BasePermission):
    """Added to the site's default permissions on every inbox endpoint: a request whose resolver
    gives nobody sees nothing (401 when it is not authenticated, 403 when it is)."""

    message = "This account has no notifications to show."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(view.recipients)
