from django.http import HttpRequest

from trackly.models import Membership


def accounts(request: HttpRequest) -> dict:
    """The current account and role, and the user's accounts for the switcher (lazily)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "account": getattr(request, "account", None),
        "membership": getattr(request, "membership", None),
        "user_memberships": Membership.objects.for_user(request.user),
    }
