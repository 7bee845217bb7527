"""The API's errors: the catalogue of codes, the `ApiError` to raise anywhere in an endpoint,
and the handlers that turn every failure into the one error shape
(`trackly.json_errors.error_response`)."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from ninja import Field, NinjaAPI, Schema
from ninja.errors import HttpError
from ninja.errors import ValidationError as RequestValidationError

from api.fields import MAX_ID
from contacts.labels import KEY_MAX_LENGTH, MAX_LABELS_PER_CONTACT, VALUE_MAX_LENGTH
from trackly.body_size import too_large_error
from trackly.json_errors import error_response

logger = logging.getLogger(__name__)

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
        f"A label key that is empty, longer than {KEY_MAX_LENGTH} characters, or has characters "
        "other than letters, digits, `_` and `-`.",
        "Label key 'first name' may only contain letters, digits, '_' and '-'.",
    ),
    "invalid_label_value": (
        400,
        f"A label value that is empty, longer than {VALUE_MAX_LENGTH} characters, not text, or "
        "has control characters.",
        "Label value contains the control character U+000A.",
    ),
    "too_many_labels": (
        400,
        f"The contact would have more than {MAX_LABELS_PER_CONTACT} labels.",
        f"A contact can have at most {MAX_LABELS_PER_CONTACT} labels; "
        f"this would make {MAX_LABELS_PER_CONTACT + 1}.",
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
        "An import file whose header row is unusable: no phone column, a duplicate column.",
        "The file has no phone column (phone_number, phone, mobile, tel, ...): choose the column "
        "that holds the numbers. Its columns are: 'name'.",
    ),
    "invalid_mapping": (
        400,
        "An import's `mapping` that does not fit its file: a column the file does not have, "
        "a label key that breaks the label rules, a column given two uses.",
        "The mapping names the column 'Mobile', which the file does not have.",
    ),
    "invalid_region": (
        400,
        "A region that is not one phone numbers can be read with: an import's `region`, the "
        "account's `default_region`.",
        "Region 'XX' is not one phone numbers can be read with: give a two-letter ISO code "
        "such as GB or US.",
    ),
    "invalid_time_zone": (
        400,
        "The account's `time_zone` that is not an IANA time zone name.",
        "'Mars/Olympus' is not a known time zone.",
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
        "A read-only key was used for a change, or a key whose creator is not an admin of the "
        "account now was used to change the account's settings.",
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
        "The object would duplicate another (an audience or sending list name, a sending "
        "number), or is in a state that refuses the change: an audience that other audiences "
        "use with IN AUDIENCE cannot be archived or deleted, and only a static audience has "
        "members to add or remove.",
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
_STATUS_OF_CODE = {"conflict": 409, "payload_too_large": 413}


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


def not_found(what: str, pk: object) -> ApiError:
    return ApiError("not_found", f"No {what} with id {pk}.")


def invalid(error: ValidationError, field: str | None = None) -> ApiError:
    """The API error for a ValidationError of the validators or services, with its code."""
    messages = error.messages
    code = getattr(error, "code", None) or next(
        (e.code for e in getattr(error, "error_list", []) if e.code), None
    )
    status = _STATUS_OF_CODE.get(code, 400)
    if status == 400 and code not in _PASSED_ON_CODES:
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
    # Django's own limit on the fields of a body (not its files), reached while reading it.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return invalid(too_large_error(limit, what="request body"), "body").response()


def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    if isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        return error_response(400, "invalid_request", str(exc))
    return error_response(400, "invalid_request", "The request is malformed.")


def get_or_404[M: Model](queryset: QuerySet[M], pk: int, what: str) -> M:
    """The object `pk` of `queryset` (already scoped to the account), or `not_found`."""
    if not 1 <= pk <= MAX_ID:
        raise not_found(what, pk)
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise not_found(what, pk)
    return found


def add_error_handlers(api: NinjaAPI) -> None:
    """Answer every failure under the API in the error shape, whatever raised it."""
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
