"""The JSON API, v1 (SPEC §11): one NinjaAPI under /api/v1/, a router per app.

This module holds what every endpoint shares: API-key authentication, the per-key rate limit,
the body size limit, the error format and its handlers, paging, the jobs endpoint and the URLs.
The endpoints themselves are in `contacts.api` and `audiences.api`; they add no rules of their
own, calling the same validators and services as the dashboard.

Every answer that is not a success is JSON, `{"error": "<message>", "code": "<code>",
"details": [...]}` (`details` only where there is something to add), whatever went wrong:
validation, authentication, an unknown URL under /api/, a wrong method, an oversized or
malformed body, an unexpected exception.
"""

import base64
import binascii
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Annotated, Any, Literal

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.db.models import Model, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.http.multipartparser import MultiPartParserError
from django.urls import URLPattern, include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import Field, NinjaAPI, Router, Schema, Swagger
from ninja.errors import HttpError
from ninja.errors import ValidationError as RequestValidationError
from ninja.security import APIKeyHeader
from pydantic import ConfigDict, WithJsonSchema

from audiences.conditions import (
    MAX_TEXT_LENGTH,
    ConditionError,
    Node,
    from_json,
    parse,
    to_json,
    to_text,
)
from trackly.api_keys import api_key_touch, find_api_key
from trackly.jobs import fail_stale_jobs
from trackly.models import Account, ApiKey, Job

logger = logging.getLogger(__name__)

# The largest id the databases store (a signed 64-bit integer); larger ids exist nowhere.
MAX_ID = 2**63 - 1
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 50
MAX_PAGE = 1_000_000

# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

# Every error code the API answers with: its status, when it happens, and an example message.
ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_request": (
        400,
        "The request does not have the documented shape: a field missing, unknown or of the "
        "wrong type, or a value out of range. `details` names each field.",
        "per_page: Input should be less than or equal to 1000",
    ),
    "invalid_json": (400, "The body is not valid JSON.", "The request body is not valid JSON."),
    "invalid_phone": (
        400,
        "A phone number that is not a valid number.",
        "'12' is not a valid phone number.",
    ),
    "invalid_label_key": (
        400,
        "A label key that is empty, longer than 64 characters, or has characters other than "
        "letters, digits, `_` and `-`.",
        "Label key 'first name' may only contain letters, digits, '_' and '-'.",
    ),
    "invalid_label_value": (
        400,
        "A label value that is empty, longer than 256 characters, not text, or has control "
        "characters.",
        "Label value contains the control character U+000A.",
    ),
    "too_many_labels": (
        400,
        "The contact would have more than 50 labels.",
        "A contact can have at most 50 labels; this would make 51.",
    ),
    "invalid_conditions": (
        400,
        "Audience conditions that do not parse; `details` gives the column (text) or the path "
        "(JSON tree).",
        "expected a value after '=' at column 15",
    ),
    "missing_list": (
        400,
        "No `list_id` was given and the account does not have exactly one active sending list.",
        "This account has 2 active sending lists; say which one with list_id.",
    ),
    "invalid_cursor": (
        400,
        "A `cursor` that is not one this API handed out.",
        "This cursor is not valid; start again without one.",
    ),
    "invalid_file": (
        400,
        "An import file that is not UTF-8 CSV text, or is empty.",
        "The file is not UTF-8 text (line 3).",
    ),
    "invalid_header": (
        400,
        "An import file whose header row is unusable: no phone column, an invalid `label_` "
        "column, a duplicate column.",
        "There is no phone column; name one phone_number, phone or msisdn.",
    ),
    "missing_api_key": (
        401,
        "No `X-Api-Key` header.",
        "Send your API key in the X-Api-Key header.",
    ),
    "invalid_api_key": (
        401,
        "The `X-Api-Key` header holds no active key: unknown, malformed or revoked.",
        "This API key is not valid; it may have been revoked.",
    ),
    "forbidden": (
        403,
        "A read-only key was used for a change.",
        "This API key is read-only; it cannot change anything.",
    ),
    "not_found": (
        404,
        "No such object in the key's account (objects of other accounts are not found either), "
        "or no such URL.",
        "No contact with id 42.",
    ),
    "method_not_allowed": (
        405,
        "The URL exists but not with this method; the `Allow` header lists the methods it has.",
        "DELETE is not allowed here; use GET, POST.",
    ),
    "conflict": (
        409,
        "The object would duplicate another: an audience or sending list name, a sending number.",
        "An audience with this name already exists.",
    ),
    "payload_too_large": (
        413,
        "The body is larger than the API reads (1 MB for JSON by default; imports have their "
        "own limit).",
        "The request body is 2.0 MB; the limit is 1.0 MB.",
    ),
    "rate_limited": (
        429,
        "The key made more requests a second than allowed; retry after `Retry-After` seconds.",
        "Too many requests: this key may make 50 requests a second.",
    ),
    "internal_error": (
        500,
        "A fault of the server, logged there; the request may be repeated.",
        "Something went wrong on our side.",
    ),
}

# Validator codes that keep their own name in the API; any other is `invalid_request`.
_PASSED_ON_CODES = frozenset(code for code, (status, _, _) in ERRORS.items() if status == 400)
_STATUS_OF_CODE = {"conflict": 409, "file_too_large": 413}


class ErrorDetail(Schema):
    """One problem in a request."""

    field: str | None = Field(
        None,
        description="Where in the request: a body field as a dotted path (`labels.tier`), or a "
        "query or path parameter.",
    )
    message: str
    code: str | None = None
    column: int | None = Field(None, description="For conditions given as text: the column.")
    path: str | None = Field(None, description="For conditions given as a JSON tree: the path.")


class ErrorOut(Schema):
    """Every error the API answers with."""

    error: str = Field(description="A message for people.")
    code: str = Field(description="A code for programs; the API description lists them all.")
    details: list[ErrorDetail] | None = Field(
        None, description="Further problems, each naming the field it is about."
    )


class ApiError(Exception):
    """An error answer: raise it anywhere in an endpoint."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        details: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or ERRORS[code][0]
        self.details = details
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        return error_response(
            self.status, self.code, self.message, details=self.details, headers=self.headers
        )


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


def not_found(what: str, pk: object) -> ApiError:
    return ApiError("not_found", f"No {what} with id {pk}.")


def invalid(error: ValidationError, field: str | None = None) -> ApiError:
    """The API error for a ValidationError of the validators or services, with its code."""
    messages = error.messages
    code = getattr(error, "code", None) or next(
        (e.code for e in getattr(error, "error_list", []) if e.code), None
    )
    status = _STATUS_OF_CODE.get(code, 400)
    if status == 413:
        code = "payload_too_large"
    elif status == 400 and code not in _PASSED_ON_CODES:
        code = "invalid_request"
    detail: dict[str, Any] = {"field": field} if field else {}
    detail.update(message=messages[0], code=code)
    for name in ("column", "path"):
        if getattr(error, name, None) is not None:
            detail[name] = getattr(error, name)
    return ApiError(code, messages[0], status=status, details=[detail])


@contextmanager
def reported_as(field: str | None) -> Iterator[None]:
    """Turn a ValidationError raised inside into the API error about `field`."""
    try:
        yield
    except ValidationError as error:
        raise invalid(error, field) from None


def _field_of(loc: tuple) -> str:
    # ("body", "payload", "labels", "tier") -> "labels.tier" (the first name after "body" is
    # the view's argument); ("query", "per_page") -> "per_page".
    source, *rest = loc
    if source == "body":
        rest = rest[1:]
    return ".".join(str(part) for part in rest) or str(source)


def _request_invalid(request: HttpRequest, exc: RequestValidationError) -> HttpResponse:
    details = []
    for error in exc.errors:
        field = _field_of(tuple(error.get("loc", ("body",))))
        details.append({"field": field, "message": error.get("msg", "Invalid value.")})
    if not details:
        details = [{"field": "body", "message": "Invalid request."}]
    # A label value of the wrong type is the label validator's business.
    code = "invalid_request"
    if all(d["field"].startswith("labels.") for d in details):
        code = "invalid_label_value"
    for detail in details:
        detail["code"] = code
    first = details[0]
    return error_response(400, code, f"{first['field']}: {first['message']}", details=details)


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    code = {
        401: "invalid_api_key",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "payload_too_large",
        429: "rate_limited",
    }.get(exc.status_code, "invalid_request")
    return error_response(exc.status_code, code, str(exc))


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.error("Unexpected error in %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "internal_error", ERRORS["internal_error"][2])


def _body_too_large(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(413, "payload_too_large", "The request body is too large.")


def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    if isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        return error_response(400, "invalid_request", str(exc))
    return error_response(400, "invalid_request", "The request is malformed.")


# ---------------------------------------------------------------------------------------------
# Rate limiting
# ---------------------------------------------------------------------------------------------


def _clock() -> float:
    return time.time()


def _count_request(key: str) -> int:
    """Add one to the counter `key` (made when missing) and return it; atomic in every process."""
    try:
        return cache.incr(key)
    except ValueError:
        # The first request of the window makes the counter; `add` fails if another did first.
        if cache.add(key, 1, timeout=3):
            return 1
        return cache.incr(key)


def check_rate(api_key: ApiKey) -> None:
    """Raise `rate_limited` when the key makes more than `API_RATE_LIMIT` requests a second.

    A sliding window over per-second counters: the previous second's count, weighted by how
    much of it still lies within the last second, plus this second's. Up to `API_RATE_BURST`
    requests above the rate pass, so a client pacing itself at the rate is never refused.
    """
    rate = settings.API_RATE_LIMIT
    if rate <= 0:
        return
    now = _clock()
    window = int(now)
    try:
        current = _count_request(f"api-rate:{api_key.pk}:{window}")
        previous = cache.get(f"api-rate:{api_key.pk}:{window - 1}", 0)
    except Exception:
        # A broken cache must not take the API down with it; the limit is off meanwhile.
        logger.exception("The API rate limit is not applied: the cache failed.")
        return
    estimate = previous * (1 - (now - window)) + current
    if estimate > rate + settings.API_RATE_BURST:
        raise ApiError(
            "rate_limited",
            f"Too many requests: this key may make {rate} requests a second.",
            headers={"Retry-After": "1"},
        )


# ---------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------

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


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 100 * 1024 else f"{n} bytes"


def check_body_size(request: HttpRequest, limit: int) -> None:
    """Raise `payload_too_large` for a body longer than `limit`, before anything reads it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise ApiError(
            "payload_too_large",
            f"The request body is {_size(length)}; the limit is {_size(limit)}.",
        )


# ---------------------------------------------------------------------------------------------
# Documentation helpers
# ---------------------------------------------------------------------------------------------

_ALWAYS = ("invalid_request", "missing_api_key", "invalid_api_key", "rate_limited")
_WITH_BODY = ("invalid_json", "payload_too_large")


def operation(
    success: dict[int, Any],
    *codes: str,
    body: bool = False,
    writes: bool = False,
    description: str = "",
    summary: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The keyword arguments of a router decorator: the success responses, and every error the
    operation can answer with, documented with its codes and an example.

    `codes` are the operation's own error codes; authentication, rate limit, request validation
    (and, with `body`, JSON and size; with `writes`, read-only keys) are added here.
    """
    all_codes = list(_ALWAYS)
    if body:
        all_codes += _WITH_BODY
    if writes:
        all_codes.append("forbidden")
    all_codes += [code for code in codes if code not in all_codes]
    by_status: dict[int, list[str]] = {}
    for code in all_codes:
        by_status.setdefault(ERRORS[code][0], []).append(code)
    response: dict[int, Any] = dict(success)
    docs: dict[int, Any] = {}
    for status, status_codes in sorted(by_status.items()):
        response[status] = ErrorOut
        lines = [f"- `{code}`: {ERRORS[code][1]}" for code in status_codes]
        examples = {
            code: {
                "summary": code,
                "value": {"error": ERRORS[code][2], "code": code},
            }
            for code in status_codes
        }
        docs[status] = {
            "description": "\n".join(lines),
            "content": {"application/json": {"examples": examples}},
        }
    kwargs = {
        "response": response,
        "openapi_extra": {"responses": docs, **extra.pop("openapi_extra", {})},
        "description": description,
        **extra,
    }
    if summary:
        kwargs["summary"] = summary
    return kwargs


# ---------------------------------------------------------------------------------------------
# Paging
# ---------------------------------------------------------------------------------------------


class PageParams(Schema):
    page: int = Field(
        1,
        ge=1,
        le=MAX_PAGE,
        description="Page number, from 1. Ignored when `cursor` is given.",
    )
    per_page: int = Field(
        DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE, description="Items per page, at most 1000."
    )
    cursor: str | None = Field(
        None,
        description="Walk the whole collection: the `next_cursor` of the previous page, or an "
        "empty value to start. Pages are read by id, at the same speed however far in, and the "
        "total is not counted.",
    )


class Pagination(Schema):
    page: int | None = Field(description="The page number; null when paging by cursor.")
    per_page: int
    total: int | None = Field(description="Items in all pages; null when paging by cursor.")
    total_pages: int | None = Field(description="Number of pages; null when paging by cursor.")


class Page(Schema):
    pagination: Pagination
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the items after this page; null on the last page."
    )


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues after (0 for an empty cursor), or `invalid_cursor`."""
    if not cursor.strip():
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor.strip() + "=" * (-len(cursor.strip()) % 4))
        after = json.loads(raw)["after"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        after = None
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= MAX_ID:
        raise ApiError(
            "invalid_cursor",
            ERRORS["invalid_cursor"][2],
            details=[{"field": "cursor", "message": "Not a cursor of this API."}],
        )
    return after


def paginate(
    queryset: QuerySet,
    params: PageParams,
    serialize: Callable[[Any], dict] | None = None,
    *,
    serialize_page: Callable[[list], list[dict]] | None = None,
) -> dict[str, Any]:
    """A page of `queryset` in id order, by page number (counting the total) or by cursor.

    Rows are turned into answers one by one (`serialize`) or the whole page at once
    (`serialize_page`, for what is read with one query per page).
    """
    queryset = queryset.order_by("pk")
    per_page = params.per_page
    if params.cursor is not None:
        after = decode_cursor(params.cursor)
        rows = list(queryset.filter(pk__gt=after)[: per_page + 1])
        pagination = {"page": None, "per_page": per_page, "total": None, "total_pages": None}
    else:
        total = queryset.count()
        start = (params.page - 1) * per_page
        rows = list(queryset[start : start + per_page + 1]) if start < total else []
        pagination = {
            "page": params.page,
            "per_page": per_page,
            "total": total,
            "total_pages": math.ceil(total / per_page),
        }
    more = len(rows) > per_page
    rows = rows[:per_page]
    return {
        "data": serialize_page(rows) if serialize_page else [serialize(row) for row in rows],
        "pagination": pagination,
        "next_cursor": encode_cursor(rows[-1].pk) if more else None,
    }


def get_or_404[M: Model](queryset: QuerySet[M], pk: int, what: str) -> M:
    """The object `pk` of `queryset` (already scoped to the account), or `not_found`."""
    if not 1 <= pk <= MAX_ID:
        raise not_found(what, pk)
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise not_found(what, pk)
    return found


# Text fields of names and descriptions: control characters and lone surrogates are refused
# (PostgreSQL cannot store NUL, and they would break the dashboard's pages).
def check_text(value: str, *, multiline: bool = False) -> str:
    allowed = "\n\r\t" if multiline else ""
    for char in value:
        if (ord(char) < 32 and char not in allowed) or ord(char) == 127:
            raise ValueError("must not contain control characters")
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError("must be valid Unicode text")
    return value


# ---------------------------------------------------------------------------------------------
# Conditions
# ---------------------------------------------------------------------------------------------

_KEY_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "example": "tier"}
_VALUE_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 256, "example": "gold"}
_TREE_REF = {"$ref": "#/components/schemas/ConditionTree"}
# Pydantic resolves every `$ref` of a model's schema itself, so the models' fields refer to the
# tree with this marker, which `TracklyAPI` turns into the `$ref` once the schema is built.
_TREE_MARK = {"x-trackly-ref": "ConditionTree"}


def _group_schema(name: str, meaning: str) -> dict:
    return {
        "type": "object",
        "description": meaning,
        "properties": {name: {"type": "array", "items": _TREE_REF, "minItems": 1, "maxItems": 100}},
        "required": [name],
        "additionalProperties": False,
    }


def _condition_schema(ops: list[str], operand: str | None, meaning: str) -> dict:
    properties: dict[str, Any] = {"key": _KEY_SCHEMA, "op": {"type": "string", "enum": ops}}
    if operand == "value":
        properties["value"] = _VALUE_SCHEMA
    elif operand == "values":
        properties["values"] = {
            "type": "array",
            "items": _VALUE_SCHEMA,
            "minItems": 1,
            "maxItems": 100,
        }
    return {
        "type": "object",
        "description": meaning,
        "properties": properties,
        "required": ["key", "op", *([operand] if operand else [])],
        "additionalProperties": False,
    }


# The JSON tree of `audiences.conditions.to_json` / `from_json`, for the OpenAPI schema.
CONDITION_SCHEMAS: dict[str, dict] = {
    "ConditionTree": {
        "description": "Audience conditions as a JSON tree (the same as the text form, which "
        "answers give beside it as `conditions`). At most 100 conditions and 20 levels.",
        "anyOf": [
            {"$ref": "#/components/schemas/ValueCondition"},
            {"$ref": "#/components/schemas/ListCondition"},
            {"$ref": "#/components/schemas/ExistsCondition"},
            {"$ref": "#/components/schemas/AllConditions"},
            {"$ref": "#/components/schemas/AnyCondition"},
            {"$ref": "#/components/schemas/NotCondition"},
        ],
        "example": {
            "and": [
                {"key": "ltv_tier", "op": "=", "value": "vip"},
                {"key": "last_purchase_days", "op": "IN", "values": ["90", "180"]},
                {"not": {"key": "churned", "op": "EXISTS"}},
            ]
        },
    },
    "ValueCondition": _condition_schema(
        ["=", "!="],
        "value",
        "`=`: the contact has the key with this value. `!=`: it does not (a contact without "
        "the key matches).",
    ),
    "ListCondition": _condition_schema(
        ["IN", "NOT IN"],
        "values",
        "`IN`: the contact has the key with one of the values. `NOT IN`: it does not (a "
        "contact without the key matches).",
    ),
    "ExistsCondition": _condition_schema(
        ["EXISTS", "NOT EXISTS"], None, "Whether the contact has the key, with any value."
    ),
    "AllConditions": _group_schema("and", "Every condition of the list matches."),
    "AnyCondition": _group_schema("or", "At least one condition of the list matches."),
    "NotCondition": {
        "type": "object",
        "description": "The condition does not match.",
        "properties": {"not": _TREE_REF},
        "required": ["not"],
        "additionalProperties": False,
    },
}

# Conditions in a request: text, a JSON tree, or null for none (every subscribed contact).
ConditionsIn = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_TEXT_LENGTH},
                _TREE_MARK,
                {"type": "null"},
            ],
            "description": "Text (`label:tier IN [gold, silver] AND label:vip EXISTS`), a JSON "
            "tree, or null or empty for none: every subscribed contact in scope.",
            "examples": ["label:ltv_tier = vip AND label:last_purchase_days = 90"],
        }
    ),
]
ConditionsTreeOut = Annotated[
    dict[str, Any] | None, WithJsonSchema({"anyOf": [_TREE_MARK, {"type": "null"}]})
]


def read_conditions(raw: object, field: str = "conditions") -> Node | None:
    """Conditions given as text or as a JSON tree, as a tree; or the API error saying where
    they are wrong (`invalid_conditions`, or the label validator's code)."""
    try:
        if raw is None:
            return None
        if isinstance(raw, str):
            return parse(raw)
        return from_json(raw)
    except ConditionError as error:
        raise invalid(error, field) from None


def conditions_out(tree: Node | None) -> dict[str, Any]:
    """The `conditions` (canonical text) and `conditions_tree` of an answer."""
    return {"conditions": to_text(tree), "conditions_tree": to_json(tree)}


# ---------------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------------


class JobProgress(Schema):
    done: int
    total: int


class JobOut(Schema):
    id: int
    kind: str = Field(
        description="`add_label`, `remove_label`, `import`, or `import_preview` (a dry run)."
    )
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: JobProgress
    result: dict[str, Any] = Field(
        description="Once succeeded: what the job did (e.g. the counts of a bulk label change "
        "or an import)."
    )
    error: str | None = Field(description="Why the job failed; null unless it did.")
    created_at: datetime
    finished_at: datetime | None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "kind": "add_label",
                    "status": "succeeded",
                    "progress": {"done": 1840, "total": 1840},
                    "result": {
                        "matching": 1840,
                        "gained": 1500,
                        "replaced": 40,
                        "already": 300,
                        "skipped": 0,
                    },
                    "error": None,
                    "created_at": "2025-03-01T10:00:00Z",
                    "finished_at": "2025-03-01T10:00:02Z",
                }
            ]
        }
    )


def job_out(job: Job) -> dict[str, Any]:
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "result": job.result or {},
        "error": job.error or None,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


jobs_router = Router(tags=["Jobs"])


@jobs_router.get(
    "/jobs/{int:job_id}",
    **operation(
        {200: JobOut},
        "not_found",
        summary="Get a job",
        description="A background job (bulk label change, import): its status, progress and, "
        "once finished, its result or error. Poll it until `status` is `succeeded` or `failed`.",
    ),
)
def job_get(request: ApiRequest, job_id: int):
    fail_stale_jobs()
    return job_out(get_or_404(Job.objects.for_account(request.account), job_id, "job"))


# ---------------------------------------------------------------------------------------------
# The API and its URLs
# ---------------------------------------------------------------------------------------------

DESCRIPTION = """
Trackly's JSON API: sending lists, contacts and their labels, the label catalogue, audiences,
bulk label actions, imports and jobs.

**Authentication.** Send an API key in the `X-Api-Key` header. Admins create keys on the
account's *Settings > API keys* page (or with `manage.py create_api_key`); a key belongs to one
account and sees only its data: objects of other accounts answer `404 not_found`, like objects
that do not exist. A read-only key can read everything and change nothing (`403 forbidden`).

**Errors.** Every error is JSON: `{"error": "<message>", "code": "<code>", "details": [...]}`;
`details` (optional) names the field of each problem. The codes:

{codes}

**Paging.** Collections take `page` and `per_page` (default 50, at most 1000) and answer
`{"data": [...], "pagination": {"page", "per_page", "total", "total_pages"}, "next_cursor"}`.
To walk a whole collection, however large, pass `cursor` (empty to start, then each answer's
`next_cursor` until it is null): pages by cursor are read by id and do not count the total.

**Conditions** (audiences, `GET /contacts`) are given as text, as in the dashboard
(`label:tier IN [gold, silver] AND label:churned NOT EXISTS`), or as a JSON tree:
`{"key", "op", "value"}` for `=` and `!=`, `{"key", "op", "values"}` for `IN` and `NOT IN`,
`{"key", "op"}` for `EXISTS` and `NOT EXISTS`, `{"and": [...]}`, `{"or": [...]}`,
`{"not": {...}}`. Answers give both: `conditions` (canonical text) and `conditions_tree`.

**Rate limit.** Each key may make `API_RATE_LIMIT` requests a second (50 by default, with a
small burst); beyond it, `429 rate_limited` with a `Retry-After` header.
"""


def _description() -> str:
    codes = "\n".join(
        f"- `{status} {code}`: {meaning}"
        for code, (status, meaning, _) in sorted(ERRORS.items(), key=lambda item: item[1][0])
    )
    return DESCRIPTION.replace("{codes}", codes)


def _resolve_marks(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"x-trackly-ref"}:
            return {"$ref": f"#/components/schemas/{node['x-trackly-ref']}"}
        return {key: _resolve_marks(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve_marks(item) for item in node]
    return node


class TracklyAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        schema = super().get_openapi_schema(**kwargs)
        schema["paths"] = _resolve_marks(schema["paths"])
        components = schema["components"]
        components["schemas"] = _resolve_marks(components["schemas"]) | CONDITION_SCHEMAS
        return schema


api = TracklyAPI(
    title="Trackly API",
    version="1",
    description=_description(),
    urls_namespace="api-v1",
    auth=ApiKeyAuth(),
    docs=Swagger(settings={"persistAuthorization": True}),
)
api.add_exception_handler(ApiError, lambda request, exc: exc.response())
api.add_exception_handler(RequestValidationError, _request_invalid)
api.add_exception_handler(HttpError, _http_error)
api.add_exception_handler(
    Http404, lambda request, exc: error_response(404, "not_found", str(exc) or "Not found.")
)
api.add_exception_handler(ValidationError, lambda request, exc: invalid(exc).response())
api.add_exception_handler(RequestDataTooBig, _body_too_large)
api.add_exception_handler(SuspiciousOperation, _suspicious)
api.add_exception_handler(
    MultiPartParserError,
    lambda request, exc: error_response(
        400, "invalid_request", "The multipart/form-data body is malformed."
    ),
)
api.add_exception_handler(Exception, _unexpected)


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


_registered = False


def api_urls() -> list:
    """The URLs under /api/: the API's own, then JSON 404s for everything else."""
    global _registered
    if not _registered:
        # Imported here: the routers import this module for what endpoints share.
        from audiences.api import router as audiences_router
        from contacts.api import router as contacts_router

        api.add_router("", contacts_router)
        api.add_router("", audiences_router)
        api.add_router("", jobs_router)
        for bound_router in api._get_bound_routers():
            for path_view in bound_router.path_operations.values():
                for op in path_view.operations:
                    op.run = _knowing_query_names(op.run, _query_names(op))
        _registered = True
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


def operations() -> Iterable[tuple[str, str]]:
    """Every (method, path) of the API, for tests that try each one."""
    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    for route, methods in schema["paths"].items():
        for method in methods:
            yield method.upper(), route
