"""The label catalogue: keys and values in use, with how many contacts have them.

Counts come from LabelKeyCount / LabelValueCount, which database triggers keep exact, so these
reads cost a few index entries however many labels the account has. The counts include
unsubscribed contacts: they say how a label is used, not who would receive a message.
"""

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.http import QueryDict

from contacts.models import DateOf, LabelKeyCount, LabelValueCount, NumberOf
from trackly.models import Account
from trackly.paging import CURSOR, keyset_page

# The value dropdown and the catalogue show a key's most used values first, up to this many.
TOP_VALUES = 200


class KeyCount(NamedTuple):
    key: str
    contacts: int


class ValueCount(NamedTuple):
    value: str
    contacts: int


# Rows come back as tuples, not model instances: the dropdowns are on the builder's hot path.
def label_keys(account: Account, *, limit: int | None = None) -> list[KeyCount]:
    """The keys in use in the account (every one, or the first `limit`), in key order, with
    their contact counts."""
    keys = LabelKeyCount.objects.filter(account=account).order_by("key")
    return [KeyCount(*row) for row in keys.values_list("key", "contacts")[:limit]]


def label_key(account: Account, key: str) -> KeyCount | None:
    """One key with its contact count; None when no contact of the account has it."""
    row = LabelKeyCount.objects.filter(account=account, key=key).values_list("key", "contacts")
    return next((KeyCount(*found) for found in row), None)


def label_values(account: Account, key: str, *, limit: int = TOP_VALUES) -> list[ValueCount]:
    """A key's values, most contacts first, with their contact counts."""
    values = LabelValueCount.objects.filter(account=account, key=key)
    rows = values.order_by("-contacts", "value").values_list("value", "contacts")[:limit]
    return [ValueCount(*row) for row in rows]


class ValuePage(NamedTuple):
    values: list[ValueCount]
    # The cursor of the values after these; "" when there are none.
    next_cursor: str
    # Whether the cursor asked for was not one this search handed out.
    cursor_error: bool = False


# The cursors of a search say which of its two parts they continue.
_STARTING, _CONTAINING = "s", "c"


def search_values(
    account: Account, key: str, text: str = "", *, limit: int = TOP_VALUES, cursor: str = ""
) -> ValuePage:
    """A page of a key's values: without `text`, the most used first; with it, those that
    start with `text` (as typed) in value order, then those that contain it in any case.
    `cursor` (a `next_cursor` of the same search) continues after the previous page.

    The most used values read the (account, key, contacts, value) index and the values that
    start with `text` a range of the (account, key, value) index, so they cost the rows they
    return; the values that contain `text` are found by a trigram index (PostgreSQL's GIN
    index; SQLite's FTS5 table, for a text of 3 characters or more) or, for a shorter text on
    SQLite, by a scan of the key's values in value order that stops once the page is full.
    """
    values = LabelValueCount.objects.filter(account=account, key=key).only("value", "contacts")
    if not text:
        page = keyset_page(
            values, ("-contacts", "value", "id"), per_page=limit, params=_cursor(cursor)
        )
        return ValuePage(_counts(page.rows), page.next_cursor, bool(page.cursor_error))
    # The range serves the index; `startswith` keeps the range exact in any collation.
    after = text[:-1] + chr(min(ord(text[-1]) + 1, 0x10FFFF))
    prefix = Q(value__gte=text, value__lt=after, value__startswith=text)
    starting, containing = values.filter(prefix), _containing(account, key, text, prefix)
    part, _, inner = cursor.partition(":")
    if cursor and part not in (_STARTING, _CONTAINING):
        return ValuePage([], "", cursor_error=True)
    rows: list = []
    if part != _CONTAINING:
        page = keyset_page(starting, ("value", "id"), per_page=limit, params=_cursor(inner))
        if page.cursor_error or page.has_next:
            return ValuePage(
                _counts(page.rows), _in(_STARTING, page.next_cursor), bool(page.cursor_error)
            )
        rows, inner = page.rows, ""
    if len(rows) == limit:
        more = containing.exists()
        return ValuePage(_counts(rows), f"{_CONTAINING}:" if more else "")
    page = keyset_page(
        containing, ("value", "id"), per_page=limit - len(rows), params=_cursor(inner)
    )
    return ValuePage(
        _counts(rows + page.rows), _in(_CONTAINING, page.next_cursor), bool(page.cursor_error)
    )


# SQLite's trigram index of the distinct values (migration contacts.0008); a text shorter than
# a trigram has none to look up.
SQLITE_SEARCH_TABLE = "labelvaluecount_search"
TRIGRAM = 3


def _containing(account: Account, key: str, text: str, prefix: Q) -> QuerySet:
    """The key's values that contain `text` in any case and do not start with it (`prefix`).

    The `icontains` decides (on SQLite a `LIKE`, which folds ASCII letters only; PostgreSQL's
    trigram index serves it). On SQLite the trigram index, which folds case more widely, hands
    it the candidates: the index is read first (the join is a CROSS JOIN, which SQLite keeps in
    the order written), then each candidate's row by its id, instead of every value of the
    key."""
    values = LabelValueCount.objects.only("value", "contacts")
    if connection.vendor != "sqlite" or len(text) < TRIGRAM:
        return values.filter(account=account, key=key, value__icontains=text).exclude(prefix)
    phrase = '"' + text.replace('"', '""') + '"'
    # The table names are constants; the text, the account and the key are parameters.
    candidates = RawSQL(  # noqa: S611
        f"SELECT v.id FROM {SQLITE_SEARCH_TABLE} AS s CROSS JOIN contacts_labelvaluecount AS v "  # noqa: S608
        f"ON v.id = s.rowid WHERE s.{SQLITE_SEARCH_TABLE} MATCH %s AND v.account_id = %s "
        "AND v.key = %s",
        [phrase, account.pk, key],
    )
    # The account and the key are the candidates' already: no range of the key for SQLite
    # to prefer over reading the candidates by id.
    return values.filter(id__in=candidates, value__icontains=text).exclude(prefix)


def _cursor(cursor: str) -> QueryDict:
    params = QueryDict(mutable=True)
    if cursor:
        params[CURSOR] = cursor
    return params


def _in(part: str, cursor: str) -> str:
    return f"{part}:{cursor}" if cursor else ""


def _counts(rows: list[LabelValueCount]) -> list[ValueCount]:
    return [ValueCount(row.value, row.contacts) for row in rows]


class ValueTypes(NamedTuple):
    """How many of a key's contacts have a value that is a number, a date, or neither."""

    contacts: int
    numbers: int
    dates: int

    @property
    def main_type(self) -> str:
        """`number` or `date` when more than half the key's values are one, else `text`."""
        for kind, count in (("number", self.numbers), ("date", self.dates)):
            if count * 2 > self.contacts:
                return kind
        return "text"

    def not_of(self, kind: str) -> int:
        """How many of the key's values are not a `kind` (`number` or `date`)."""
        return self.contacts - (self.numbers if kind == "number" else self.dates)


_READINGS = {"number": NumberOf, "date": DateOf}


def value_types(account: Account, key: str) -> ValueTypes:
    """How many contacts have `key` with a number, a date, or another value."""
    return value_types_by_key(account, [key])[key]


def value_types_by_key(account: Account, keys: Iterable[str]) -> dict[str, ValueTypes]:
    """`value_types` of several keys in one query, read from their value counts: each distinct
    value is read as the typed columns read it. A key nobody has counts zero."""
    keys = set(keys)
    values = LabelValueCount.objects.filter(account=account, key__in=keys).annotate(
        number=NumberOf("value"), date=DateOf("value")
    )
    rows = values.values("key").annotate(
        all_values=Sum("contacts"),
        number_values=Sum("contacts", filter=Q(number__isnull=False)),
        date_values=Sum("contacts", filter=Q(date__isnull=False)),
    )
    found = {
        row["key"]: ValueTypes(
            row["all_values"], row["number_values"] or 0, row["date_values"] or 0
        )
        for row in rows.order_by()
    }
    return {key: found.get(key, ValueTypes(0, 0, 0)) for key in keys}


def values_not_of(
    account: Account, key: str, kind: str, *, limit: int = TOP_VALUES
) -> list[ValueCount]:
    """A key's values that are not a `kind` (`number` or `date`), most contacts first: the ones
    to fix so that comparisons find them (`Jan 15, 2024` in a key of dates)."""
    values = LabelValueCount.objects.filter(account=account, key=key).annotate(
        reading=_READINGS[kind]("value")
    )
    rows = values.filter(reading__isnull=True).order_by("-contacts", "value")
    return [ValueCount(*row) for row in rows.values_list("value", "contacts")[:limit]]


def _comparable(name: str) -> str:
    return re.sub(r"\s+", "", name).casefold().replace("-", "_")


def similar_names(names: Iterable[str]) -> list[list[str]]:
    """Groups of names that differ only by case, white space or `-`/`_` (likely mistakes)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[_comparable(name)].append(name)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)
