"""The label catalogue: keys and values in use, with how many contacts have them.

Counts come from LabelKeyCount / LabelValueCount, which database triggers keep exact, so these
reads cost a few index entries however many labels the account has. The counts include
unsubscribed contacts: they say how a label is used, not who would receive a message.
"""

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from django.db.models import Q, Sum

from contacts.models import DateOf, LabelKeyCount, LabelValueCount, NumberOf
from trackly.models import Account

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


def search_values(
    account: Account, key: str, text: str, *, limit: int = TOP_VALUES
) -> tuple[list[ValueCount], bool]:
    """A key's values that start with `text` (as typed, in value order), then those that
    contain it in any case, up to `limit`; and whether more values match.

    The prefix is a range of the (account, key, value) index, so it reads only the values it
    returns; the rest is a scan of the key's values in that index, which stops at `limit`.
    """
    if not text:
        values = label_values(account, key, limit=limit + 1)
        return values[:limit], len(values) > limit
    values = LabelValueCount.objects.filter(account=account, key=key)
    # The range serves the index; `startswith` keeps the range exact in any collation.
    after = text[:-1] + chr(min(ord(text[-1]) + 1, 0x10FFFF))
    starting = values.filter(value__gte=text, value__lt=after, value__startswith=text)
    rows = list(starting.order_by("value").values_list("value", "contacts")[: limit + 1])
    if len(rows) <= limit:
        containing = values.filter(value__icontains=text).exclude(
            value__gte=text, value__lt=after, value__startswith=text
        )
        rows += containing.order_by("value").values_list("value", "contacts")[
            : limit + 1 - len(rows)
        ]
    return [ValueCount(*row) for row in rows[:limit]], len(rows) > limit


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
