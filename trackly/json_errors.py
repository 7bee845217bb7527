"""The one shape of an error answered as JSON, by the API and by the middleware that refuses
requests before any view reads them: `{"error": "<message>", "code": "<code>", "details": [...]}`
(`details` only where there is something to add)."""

from typing import Any

from django.http import JsonResponse


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    body: dict[str, Any] = {"error": message, "code": code}
    if details:
        body["details"] = details
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response
