"""The confirm step of a destructive action (revoke a key, archive a list or an audience, remove
a member, reset a password), the same for every one and without JavaScript.

The action's button posts its form as before; the view first asks `confirmation`, which answers
with a page that names what will happen and posts the same fields again with `confirmed=1`.
Only that second POST acts, so one click never destroys anything.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

CONFIRMED = "confirmed"
_NOT_CARRIED = frozenset({"csrfmiddlewaretoken", CONFIRMED})


def is_confirmed(request: HttpRequest) -> bool:
    return request.POST.get(CONFIRMED) == "1"


def confirmation(
    request: HttpRequest,
    *,
    title: str,
    question: str,
    button: str,
    cancel_url: str,
    nav: str = "",
) -> HttpResponse | None:
    """None once the POST carries the confirm step's answer; else the confirm page, whose form
    posts the request's fields again to the same address with that answer."""
    if is_confirmed(request):
        return None
    carry = [
        (name, value)
        for name, values in request.POST.lists()
        if name not in _NOT_CARRIED
        for value in values
    ]
    context = {
        "title": title,
        "question": question,
        "button": button,
        "cancel_url": cancel_url,
        "carry": carry,
        "nav": nav,
    }
    return render(request, "confirm.html", context)
