"""The JSON API, v1 (docs/api.md): one NinjaAPI under /api/v1/, a router per resource, and the URLs
under /api/ (`trackly.urls` includes them).

Every answer that is not a success is JSON, `{"error": "<message>", "code": "<code>",
"details": [...]}` (`details` only where there is something to add), whatever went wrong:
validation, authentication, an unknown URL under /api/, a wrong method, an oversized or
malformed body, an unexpected exception.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import URLPattern, include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import Swagger

from api import account, audiences, contacts, imports, jobs, labels, lists
from api.auth import ApiKeyAuth
from api.errors import add_error_handlers, error_response
from api.openapi import TracklyAPI, api_description
from trackly.replicas import reads_from_replica

api = TracklyAPI(
    title="Trackly API",
    version="1",
    description=api_description(),
    urls_namespace="api-v1",
    auth=ApiKeyAuth(),
    docs=Swagger(settings={"persistAuthorization": True}),
)
add_error_handlers(api)
for resource in (account, lists, contacts, imports, audiences, labels, jobs):
    api.add_router("", resource.router)

_METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


def _api_view(view: Callable) -> Callable:
    """A view under /api/: JSON for a wrong method or a missing page, no login redirect (the
    key is the credential) and no CSRF check (there is no cookie to forge)."""

    @login_not_required
    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return _url_not_found(request)
        if isinstance(response, HttpResponseNotAllowed):
            methods = [method.strip() for method in response["Allow"].split(",")]
            allowed = ", ".join(sorted(methods, key=_METHOD_ORDER.index))
            return error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {allowed}.",
                headers={"Allow": allowed},
            )
        return response

    return wrapper


def _query_names(op) -> frozenset[str]:
    return frozenset(
        name
        for model in op.models
        if model.__ninja_param_source__ == "query"
        for name in model.__ninja_flatten_map__
    )


def _knowing_query_names(run: Callable, names: frozenset[str]) -> Callable:
    """Wrap an operation's `run` so that `check_query` knows the operation's parameters."""

    @wraps(run)
    def wrapper(request: HttpRequest, *args, **kwargs):
        request.api_query_names = names
        return run(request, *args, **kwargs)

    return wrapper


def _url_not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    return error_response(
        404,
        "not_found",
        f"There is no {request.path} in this API; its documentation is at /api/v1/docs.",
    )


def _api_urls() -> list:
    """The URLs under /api/: the API's own, then JSON 404s for everything else."""
    for bound_router in api._get_bound_routers():
        for path_view in bound_router.path_operations.values():
            for op in path_view.operations:
                op.run = _knowing_query_names(op.run, _query_names(op))
                # The API's reads may go to a replica (docs/replicas.md); the key is checked
                # on the primary before.
                if op.methods == ["GET"]:
                    op.view_func = reads_from_replica(op.view_func)
    patterns, app_name, namespace = api.urls
    wrapped = [
        URLPattern(pattern.pattern, _api_view(pattern.callback), pattern.default_args, pattern.name)
        for pattern in patterns
        if isinstance(pattern, URLPattern)
    ]
    return [
        path("v1/", include((wrapped, app_name), namespace=namespace)),
        re_path(r"", _api_view(_url_not_found)),
    ]


urlpatterns = _api_urls()
