from django.urls import path

from inbox import views
from inbox.sse.views import events

app_name = "inbox"

urlpatterns = [
    path("", views.InboxView.as_view(), name="list"),
    path("bulk/", views.BulkView.as_view(), name="bulk"),
    path("mark-all-read/", views.MarkAllReadView.as_view(), name="mark_all_read"),
    path("badge/", views.BadgeView.as_view(), name="badge"),
    path("preview/", views.PreviewView.as_view(), name="preview"),
    path("events/", events, name="events"),
    path("<uuid:uid>/", views.NotificationDetailView.as_view(), name="detail"),
    path("<uuid:uid>/action/", views.NotificationActionView.as_view(), name="action"),
]
