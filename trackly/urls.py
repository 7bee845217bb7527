from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from trackly import views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("a/<slug:account_slug>/", include("contacts.urls")),
    path("a/<slug:account_slug>/", include("audiences.urls")),
    path("admin/", admin.site.urls),
]
