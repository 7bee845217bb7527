"""Changing one's password, and the forced change after a one-time password.

At log-in, a user with a `PasswordChangeRequired` record gets a mark in the session; while it is
there every dashboard page sends them to the change-password page (the API, which uses keys, and
logging out are left alone). The mark costs no query on other requests.
"""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from trackly import services
from trackly.models import PasswordChangeRequired

SESSION_KEY = "trackly_password_change_required"


@receiver(user_logged_in)
def _mark_required_change(sender, request, user, **kwargs) -> None:
    if request is not None and PasswordChangeRequired.objects.filter(user=user).exists():
        request.session[SESSION_KEY] = True


class PasswordChangeRequiredMiddleware:
    """Send a user who logged in with a one-time password to the change-password page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.session.get(SESSION_KEY)
            and request.user.is_authenticated
            and not request.path.startswith(("/api/", "/static/"))
            and request.path not in (reverse("password_change"), reverse("logout"))
        ):
            return redirect("password_change")
        return self.get_response(request)


@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest):
    """Change one's password: the current one and a new one, or, right after logging in with a
    one-time password, a new one only."""
    forced = bool(request.session.get(SESSION_KEY))
    form_class = SetPasswordForm if forced else PasswordChangeForm
    form = form_class(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        services.password_changed(user)
        request.session.pop(SESSION_KEY, None)
        # Changing the password ends other sessions; this one stays logged in.
        update_session_auth_hash(request, user)
        messages.success(request, "Your password is changed.")
        return redirect("home")
    context = {"form": form, "forced": forced, "nav": "password"}
    return render(request, "registration/password_change.html", context)
