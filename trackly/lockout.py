"""The login page's answer to a locked-out log-in, and the client address the lockout counts."""

import math
from datetime import datetime

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def lockout_ends_at(request: HttpRequest, credentials: dict | None) -> datetime:
    """When the last of the lockouts that hold for this request's user name or address ends.

    A record of failures stops counting once it is older than the cool-off, so a lockout ends
    when the newest records that still add up to the limit grow that old.
    """
    limit = get_failure_limit(request, credentials)
    cool_off = get_cool_off(request)
    handler = AxesProxyHandler.get_implementation()
    ends = timezone.now()
    for attempts in handler.get_user_attempts(request, credentials):
        failures = 0
        for attempt_time, count in attempts.order_by("-attempt_time").values_list(
            "attempt_time", "failures_since_start"
        ):
            failures += count
            if failures >= limit:
                ends = max(ends, attempt_time + cool_off)
                break
    return ends


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The login page again, status 429, saying when the user may try again."""
    ends = lockout_ends_at(request, credentials)
    seconds = max(1, math.ceil((ends - timezone.now()).total_seconds()))
    minutes = math.ceil(seconds / 60)
    message = (
        "Too many failed log-in attempts for this user name or from this address. "
        f"Try again in {minutes} minute{'' if minutes == 1 else 's'} "
        f"(at {timezone.localtime(ends):%H:%M %Z})."
    )
    username = get_client_username(request, credentials) or ""
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "lockout_message": message,
        "next": request.POST.get("next", ""),
    }
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


def client_ip_behind_proxy(request: HttpRequest) -> str | None:
    """The address the TLS proxy saw: the last one it appended to X-Forwarded-For."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    addresses = [address.strip() for address in forwarded.split(",") if address.strip()]
    return addresses[-1] if addresses else request.META.get("REMOTE_ADDR")
