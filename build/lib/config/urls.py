from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import LoginView, home

urlpatterns = [
    path("", home, name="home"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("portal/", include("members.urls")),
    path("console/", include("coaches.urls")),
    path("supervisor/", include("chat.urls")),
    path("admin/", admin.site.urls),
]
