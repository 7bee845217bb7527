"""The label catalogue: keys and values in use, with how many contacts have them.

Counts come from LabelKeyCount / LabelValueCount, which database triggers keep exact, so these
reads cost a few index entries however many labels the account has. The counts include
unsubscribed contacts: they say how a label is used, not who would receive a message.
"""

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from contacts.models import LabelKeyCount, LabelValueCount
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


def _comparable(name: str) -> str:
    return re.sub(r"\s+", "", name).casefold().replace("-", "_")


def similar_names(names: Iterable[str]) -> list[list[str]]:
    """Groups of names that differ only by case, white space or `-`/`_` (likely mistakes)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[_comparable(name)].append(name)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)
