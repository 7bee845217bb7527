"""Keyset paging of the dashboard's tables: one way to page every table that pages.

A page link carries an opaque, signed cursor: the direction and the ordering key values of the
row the page starts after (or ends before). Any page costs one index range read, never an
OFFSET or a COUNT(*). The JSON API keeps its own page and cursor scheme.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Field, Model, Q, QuerySet
from django.http import HttpRequest, QueryDict

# The query parameter of every paged table.
CURSOR = "cursor"
BROKEN_CURSOR = "This page link is broken; here is the first page."
# A cursor is a few key values and a signature; anything much longer was not made here.
MAX_CURSOR_LENGTH = 1000
_NEXT, _PREVIOUS = "n", "p"


def is_fragment_request(request: HttpRequest) -> bool:
    """Whether a paged table answers with the table alone: an htmx request for its next page or
    its filters. A boosted link and a history restore (Back, Forward) get the whole page; views
    that answer either way are marked `Vary: HX-Request`."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


@dataclass(frozen=True)
class Page[M: Model]:
    """One page of a table, with the query strings (filters kept) of its neighbours."""

    rows: list[M]
    has_next: bool
    has_previous: bool
    next_cursor: str
    previous_cursor: str
    # The cursor's query string without the cursor: the table's filters.
    filters: str
    # Set when the link's cursor was not one this table made: the page is the first.
    cursor_error: str = ""

    @property
    def next_query(self) -> str:
        return self._query(self.next_cursor)

    @property
    def previous_query(self) -> str:
        return self._query(self.previous_cursor)

    @property
    def first_query(self) -> str:
        return f"?{self.filters}" if self.filters else ""

    def _query(self, cursor: str) -> str:
        if not cursor:
            return ""
        query = QueryDict(self.filters, mutable=True)
        query[CURSOR] = cursor
        return f"?{query.urlencode()}"


@dataclass(frozen=True)
class _Key:
    name: str
    field: Field
    descending: bool


def _keys(queryset: QuerySet, ordering: Sequence[str]) -> list[_Key]:
    meta = queryset.model._meta
    keys = []
    for column in ordering:
        name = column.removeprefix("-")
        field = meta.pk if name == "pk" else meta.get_field(name)
        keys.append(_Key(field.attname, field, column.startswith("-")))
    if not keys or not keys[-1].field.primary_key:
        raise ValueError("The last ordering key must be the primary key, to break ties.")
    return keys


def _salt(keys: list[_Key]) -> str:
    # A cursor of one table (other keys) is not a cursor of another.
    return "trackly.paging:" + ",".join(("-" if k.descending else "") + k.name for k in keys)


def _encode(keys: list[_Key], direction: str, row: Model) -> str:
    values = [key.field.value_to_string(row) for key in keys]
    return signing.Signer(salt=_salt(keys)).sign_object([direction, *values])


def _decode(keys: list[_Key], cursor: str) -> tuple[str, list] | None:
    """The direction and key values of a cursor this table made, or None."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        return None
    try:
        data = signing.Signer(salt=_salt(keys)).unsign_object(cursor)
    except (signing.BadSignature, ValueError):
        return None
    if (
        not isinstance(data, list)
        or len(data) != len(keys) + 1
        or data[0] not in (_NEXT, _PREVIOUS)
    ):
        return None
    values = []
    for key, raw in zip(keys, data[1:], strict=True):
        if not isinstance(raw, str):
            return None
        try:
            value = key.field.to_python(raw)
        except (ValidationError, ValueError, TypeError):
            return None
        if value is None:
            return None
        values.append(value)
    return data[0], values


def _beyond(keys: list[_Key], values: list, forward: bool) -> Q:
    """Rows strictly past `values` in the order of `keys` (read forward or backward)."""
    beyond = Q()
    for index, key in enumerate(keys):
        later = key.descending != forward
        step = Q(**{f"{key.name}__{'gt' if later else 'lt'}": values[index]})
        for earlier, value in zip(keys[:index], values[:index], strict=True):
            step &= Q(**{earlier.name: value})
        beyond |= step
    # A bound on the first key alone lets the database start its index range read there.
    first = keys[0]
    bound = "gte" if first.descending != forward else "lte"
    return Q(**{f"{first.name}__{bound}": values[0]}) & beyond


def keyset_page[M: Model](
    queryset: QuerySet[M],
    ordering: Sequence[str],
    *,
    per_page: int,
    params: QueryDict,
    kept: Collection[str] | None = None,
) -> Page[M]:
    """The page of `queryset`, ordered by `ordering` (non-null columns ending with the primary
    key), that `params[CURSOR]` points at, in one query; the first page if there is no cursor or
    it is not one this table made; links keep the `kept` parameters (all others if None)."""
    keys = _keys(queryset, ordering)
    filters = params.copy()
    filters.pop(CURSOR, None)
    if kept is not None:
        for name in list(filters):
            if name not in kept:
                del filters[name]
    cursor = params.get(CURSOR, "")
    decoded = _decode(keys, cursor) if cursor else None
    forward = decoded is None or decoded[0] == _NEXT
    # Read backward for a previous page, then turn the rows round.
    rows = queryset.order_by(*(("-" if k.descending == forward else "") + k.name for k in keys))
    if decoded is not None:
        rows = rows.filter(_beyond(keys, decoded[1], forward))
    page = list(rows[: per_page + 1])
    more = len(page) > per_page
    page = page[:per_page]
    if forward:
        has_previous, has_next = decoded is not None, more
    else:
        page.reverse()
        has_previous, has_next = more, True
    return Page(
        rows=page,
        has_next=has_next,
        has_previous=has_previous,
        next_cursor=_encode(keys, _NEXT, page[-1]) if page and has_next else "",
        previous_cursor=_encode(keys, _PREVIOUS, page[0]) if page and has_previous else "",
        filters=filters.urlencode(),
        cursor_error=BROKEN_CURSOR if cursor and decoded is None else "",
    )
