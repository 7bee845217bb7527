"""Paging of collections: by page number (counting the total) or by cursor (read by id)."""

import base64
import binascii
import json
import math
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from ninja import Field, Schema

from api.errors import ERRORS, ApiError
from api.fields import MAX_ID

MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 50
MAX_PAGE = 1_000_000


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
