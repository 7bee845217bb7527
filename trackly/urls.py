from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from trackly import passwords, views
from trackly.api_keys_views import api_key_revoke, api_keys

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", passwords.password_change, name="password_change"),
    path(
        "a/<slug:account_slug>/settings/members/<int:membership_id>/password/",
        views.member_password_reset,
        name="member_password_reset",
    ),
    path("a/<slug:account_slug>/settings/", views.account_settings, name="settings"),
    path("a/<slug:account_slug>/settings/members/", views.member_add, name="member_add"),
    path(
        "a/<slug:account_slug>/settings/members/<int:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "a/<slug:account_slug>/settings/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("a/<slug:account_slug>/settings/api-keys/", api_keys, name="api_keys"),
    path(
        "a/<slug:account_slug>/settings/api-keys/<int:key_id>/revoke/",
        api_key_revoke,
        name="api_key_revoke",
    ),
    path("a/<slug:account_slug>/jobs/", views.jobs, name="jobs"),
    path("a/<slug:account_slug>/jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("a/<slug:account_slug>/", include("contacts.urls")),
    path("a/<slug:account_slug>/", include("audiences.urls")),
    path("a/<slug:account_slug>/", include("contacts.import_urls")),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
]
