from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("inbox/", include("inbox.urls")),
    path("api/inbox/", include("inbox.contrib.drf.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("accounts/login/", lambda request: None, name="login"),
]
