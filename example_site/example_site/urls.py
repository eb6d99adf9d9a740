from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

from demo import views

urlpatterns = [
    path("", views.home, name="home"),
    path("send/", views.send_test, name="send_test"),
    path("warn/", views.add_warning, name="add_warning"),
    path("projects/<int:pk>/", views.project, name="project"),
    path("projects/<int:pk>/status/", views.project_status, name="project_status"),
    path("inbox/", include("inbox.urls")),
    path("api/inbox/", include("inbox.contrib.drf.urls")),
    path("api/token/", obtain_auth_token, name="api_token"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
