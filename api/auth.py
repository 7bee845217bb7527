"""API-key authentication, and the checks made before a request's body is read: the rate
limit, read-only keys, unknown query parameters and the body size."""

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyHeader

from api.errors import ERRORS, ApiError, reported_as
from api.ratelimit import check_rate
from trackly.api_keys import api_key_touch, find_api_key
from trackly.body_size import declared_length, too_large_error
from trackly.models import Account, ApiKey
from trackly.replicas import writes_not_tracked

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiRequest(HttpRequest):
    """A request that passed `ApiKeyAuth`."""

    auth: ApiKey
    account: Account


class ApiKeyAuth(APIKeyHeader):
    """The `X-Api-Key` header: find the key, count the request against its rate, check that it
    may write when the request writes, and cap the body: everything to do before the body is
    read.

    `writes` says whether the operation changes anything (by default: any method but GET);
    `max_body_bytes` None leaves the body size to the operation (imports have their own limit).
    """

    param_name = "X-Api-Key"

    def __init__(self, *, writes: bool | None = None, max_body_bytes: int | None = -1) -> None:
        super().__init__()
        self.writes = writes
        self.max_body_bytes = max_body_bytes

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey:
        if not key or not key.strip():
            raise ApiError("missing_api_key", ERRORS["missing_api_key"][2])
        api_key = find_api_key(key.strip())
        if api_key is None:
            raise ApiError("invalid_api_key", ERRORS["invalid_api_key"][2])
        check_rate(api_key)
        writes = self.writes if self.writes is not None else request.method not in _READS
        if writes and api_key.read_only:
            raise ApiError("forbidden", ERRORS["forbidden"][2])
        check_query(request)
        limit = settings.API_MAX_BODY_BYTES if self.max_body_bytes == -1 else self.max_body_bytes
        if limit is not None:
            check_body_size(request, limit)
        # Bookkeeping that no read depends on: reads may still go to a replica.
        with writes_not_tracked():
            api_key_touch(api_key)
        request.account = api_key.account
        return api_key


def check_query(request: HttpRequest) -> None:
    """Raise `invalid_request` for query parameters the operation does not have (a typo such as
    `perpage` would otherwise be ignored without a word)."""
    known = getattr(request, "api_query_names", None)
    unknown = sorted(set(request.GET) - known) if known is not None else []
    if unknown:
        details = [
            {"field": name, "message": "Unknown query parameter.", "code": "invalid_request"}
            for name in unknown
        ]
        raise ApiError(
            "invalid_request",
            f"Unknown query parameter {unknown[0]!r}; "
            f"this operation takes {', '.join(sorted(known)) or 'none'}.",
            details=details,
        )


def check_body_size(request: HttpRequest, limit: int) -> None:
    """Raise `payload_too_large` for a body declared longer than `limit` (and
    `invalid_request` for a Content-Length that is not a number), before anything reads it."""
    with reported_as("body"):
        length = declared_length(request)
        if length > limit:
            raise too_large_error(limit, length, what="request body")
