"""Requests refused before any view reads them."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from trackly.json_errors import error_response

NUL_MESSAGE = "The address contains a NUL character (%00), which no page of Trackly accepts."


def has_nul(request: HttpRequest) -> bool:
    """Whether the path or a query parameter (name or value) holds a NUL character."""
    if "\x00" in request.path:
        return True
    return any(
        "\x00" in name or any("\x00" in value for value in values)
        for name, values in request.GET.lists()
    )


class RefuseNulMiddleware:
    """Answer 400 to a NUL character in the path or the query string.

    PostgreSQL text cannot hold NUL, so such a value reaching a query fails there (a 500) on
    PostgreSQL and finds nothing on SQLite; no URL of the dashboard, the admin or the API has
    a use for one. Checked here once rather than in each view that passes a parameter on.
    Bodies are left to the forms and schemas, which refuse NUL in text themselves.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if has_nul(request):
            if request.path.startswith("/api/"):
                return error_response(400, "invalid_request", NUL_MESSAGE)
            return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
