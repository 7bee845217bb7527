"""Resolving the current account of a request, and the role checks that go with it.

Dashboard URLs carry the account slug (`/a/<slug>/...`): links can be shared and several
accounts can be open in several tabs. A user who is not a member gets 404, as for an account
that does not exist; a member whose role is too low for a write gets 403.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django_htmx.middleware import HtmxDetails

from trackly.models import Account, Membership, Role


class AccountRequest(HttpRequest):
    """A request inside an account, as the views see it after `account_view`."""

    htmx: HtmxDetails
    user: AbstractBaseUser
    account: Account
    membership: Membership


def account_view(role: Role = Role.VIEWER) -> Callable:
    """Decorate a view taking `account_slug`: set `request.account`/`.membership`, check `role`."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, account_slug: str, *args, **kwargs) -> HttpResponse:
            membership = (
                Membership.objects.select_related("account")
                .filter(user=request.user, account__slug=account_slug)
                .first()
            )
            if membership is None:
                raise Http404("No such account.")
            if not membership.has_role(role):
                raise PermissionDenied(f"This needs the {role.label} role.")
            request.account = membership.account
            request.membership = membership
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def require_role(request: AccountRequest, role: Role) -> None:
    """Raise 403 unless the member has `role`; for views whose methods need different roles."""
    if not request.membership.has_role(role):
        raise PermissionDenied(f"This needs the {role.label} role.")
