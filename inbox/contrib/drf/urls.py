"""``path("api/inbox/", include("inbox.contrib.drf.urls"))``, or ``make_urlpatterns(**views)`` to
replace any view with your own (seed 000's way)::

    path("api/inbox/", include((make_urlpatterns(notifications_list=MyListView), "inbox_api"))),
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path

from inbox.contrib.drf import views

#: The views make_urlpatterns() knows, by the keyword that replaces each.
DEFAULT_VIEWS: dict[str, Any] = {
    "flags_list": views.FlagsListView,
    "notifications_list": views.NotificationListView,
    "set_flags": views.SetFlagsView,
    "clear": views.ClearView,
    "stats": views.StatsView,
    "me_notifications": views.MeNotificationsView,
    "stream_token": views.StreamTokenView,
}

app_name = "inbox_api"


def make_urlpatterns(**replacements: Any) -> list[URLPattern]:
    """The API's URL patterns; each keyword of :data:`DEFAULT_VIEWS` takes a view class or function."""
    unknown = sorted(set(replacements) - set(DEFAULT_VIEWS))
    if unknown:
        raise TypeError(
            f"make_urlpatterns() got unknown views {', '.join(unknown)}; it knows {', '.join(DEFAULT_VIEWS)}."
        )
    chosen = {**DEFAULT_VIEWS, **replacements}

    def view(name: str) -> Any:
        found = chosen[name]
        return found.as_view() if hasattr(found, "as_view") else found

    me_notifications = view("me_notifications")

    def me_notifications_slash(request: Any, *args: Any, **kwargs: Any) -> Any:
        # The same view under the other spelling, hidden from the OpenAPI schema (one operation, not two).
        return me_notifications(request, *args, **kwargs)

    me_notifications_slash.csrf_exempt = True  # type: ignore[attr-defined]  # as the view itself: DRF checks CSRF
    return [
        path("flags/list/", view("flags_list"), name="flags-list"),
        path("notifications/list/", view("notifications_list"), name="notifications-list"),
        path("notifications/set-flags/", view("set_flags"), name="notifications-set-flags"),
        path("notifications/clear/", view("clear"), name="notifications-clear"),
        path("notifications/stats/", view("stats"), name="notifications-stats"),
        # Seed 002 serves it without a trailing slash; both spellings answer (a redirect would turn
        # a PATCH into a GET in some clients).
        path("me/notifications", me_notifications, name="me-notifications"),
        path("me/notifications/", me_notifications_slash, name="me-notifications-slash"),
        path("stream-token/", view("stream_token"), name="stream-token"),
    ]


urlpatterns = make_urlpatterns()
