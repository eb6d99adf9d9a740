from django.apps import apps
from django.urls import path

from inbox import preference_views, unsubscribe_views, views
from inbox.sse.views import events

app_name = "inbox"

urlpatterns = [
    path("", views.InboxView.as_view(), name="list"),
    path("bulk/", views.BulkView.as_view(), name="bulk"),
    path("mark-all-read/", views.MarkAllReadView.as_view(), name="mark_all_read"),
    path("badge/", views.BadgeView.as_view(), name="badge"),
    path("preview/", views.PreviewView.as_view(), name="preview"),
    path("events/", events, name="events"),
    path("preferences/", preference_views.PreferencesView.as_view(), name="preferences"),
    path("unsubscribe/<str:token>/", unsubscribe_views.UnsubscribeView.as_view(), name="unsubscribe"),
    path("<uuid:uid>/", views.NotificationDetailView.as_view(), name="detail"),
    path("<uuid:uid>/action/", views.NotificationActionView.as_view(), name="action"),
]

if apps.is_installed("inbox.contrib.messages"):
    # The optional app's views live under the kit's URLs, so {% inbox_messages %} needs no include.
    from inbox.contrib.messages import views as message_views

    urlpatterns += [
        path("messages/", message_views.MessageListView.as_view(), name="messages"),
        path("<uuid:uid>/dismiss/", message_views.DismissMessageView.as_view(), name="dismiss_message"),
        path("<uuid:uid>/reply/", message_views.ReplyView.as_view(), name="reply"),
    ]
