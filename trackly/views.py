from django.http import HttpRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from trackly.models import Membership


@require_GET
def home(request: HttpRequest):
    """Open the first of the user's accounts, or say that there is none yet."""
    membership = Membership.objects.for_user(request.user).first()
    if membership is None:
        return render(request, "trackly/no_account.html")
    return redirect("contacts:sending_lists", membership.account.slug)
