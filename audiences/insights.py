"""What the account overview and an audience's page show at a glance: contacts added per day,
label hygiene warnings from the catalogue, and an audience's members broken down by one key."""

import datetime
from typing import NamedTuple

from django.db.models import Count, FilteredRelation, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from audiences import catalogue
from contacts.models import Contact
from trackly.models import Account

# Contacts added per day, over this many days up to today.
ADDED_DAYS = 30
# The hygiene check reads the values of the account's most used keys, up to this many: one
# index range each (catalogue.label_values).
HYGIENE_KEYS = 30
# An audience's breakdown shows this many values, then the rest together.
BREAKDOWN_VALUES = 8
# A larger audience is broken down by its newest members, this many: exact shares of a million
# members take seconds, and the bars look the same.
BREAKDOWN_SAMPLE = 50_000


class DayCount(NamedTuple):
    day: datetime.date
    contacts: int


def added_per_day(
    account: Account, *, days: int = ADDED_DAYS, today: datetime.date | None = None
) -> list[DayCount]:
    """Contacts added on each of the last `days` days (today included, zeros too), oldest
    first, in the current time zone: one grouped query over the (account, created_at) index."""
    today = today or timezone.localdate()
    first = today - datetime.timedelta(days=days - 1)
    since = timezone.make_aware(datetime.datetime.combine(first, datetime.time()))
    rows = (
        Contact.objects.for_account(account)
        .filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(contacts=Count("id"))
        .order_by()
    )
    counts = dict(rows)
    return [
        DayCount(day, counts.get(day, 0))
        for day in (first + datetime.timedelta(days=offset) for offset in range(days))
    ]


class SimilarValues(NamedTuple):
    key: str
    groups: list[list[str]]


class Hygiene(NamedTuple):
    """Keys, and values of one key, that differ only by case, white space or `-`/`_`."""

    similar_keys: list[list[str]]
    similar_values: list[SimilarValues]
    keys_checked: int
    keys_total: int

    @property
    def warnings(self) -> int:
        return len(self.similar_keys) + sum(len(item.groups) for item in self.similar_values)


def hygiene(account: Account, *, keys_checked: int = HYGIENE_KEYS) -> Hygiene:
    """The catalogue's duplicate hints for the whole account: keys, and the most used values of
    the `keys_checked` most used keys. One query for the keys, one for each key checked."""
    keys = catalogue.label_keys(account)
    checked = sorted(keys, key=lambda item: (-item.contacts, item.key))[:keys_checked]
    similar_values = []
    for item in sorted(checked):
        values = catalogue.label_values(account, item.key)
        groups = catalogue.similar_names(row.value for row in values)
        if groups:
            similar_values.append(SimilarValues(item.key, groups))
    return Hygiene(
        catalogue.similar_names(item.key for item in keys),
        similar_values,
        len(checked),
        len(keys),
    )


class ValueShare(NamedTuple):
    value: str
    contacts: int


class Breakdown(NamedTuple):
    """An audience's members (or its `sample_size` newest ones) by their value of one key."""

    key: str
    members: int
    values: list[ValueShare]
    other_values: int
    without_key: int
    sample_size: int | None = None

    @property
    def sampled(self) -> bool:
        return self.sample_size is not None and self.members >= self.sample_size

    @property
    def most(self) -> int:
        return max([row.contacts for row in self.values] + [self.other_values, self.without_key])


def breakdown(
    members: QuerySet[Contact],
    *,
    account: Account,
    key: str,
    limit: int = BREAKDOWN_VALUES,
    sample: int = BREAKDOWN_SAMPLE,
) -> Breakdown:
    """`members` (an audience's; the `sample` newest of them when there are more) by their value
    of `key`: the `limit` most common values, the other values together, and the members without
    the key. One query, reading the members once: their label of `key` (at most one each) joined
    and grouped, no label being the members without it."""
    chosen = members.order_by("-id").values("pk")[:sample]
    rows = (
        Contact.objects.filter(pk__in=chosen)
        .annotate(chosen_label=FilteredRelation("labels", condition=Q(labels__key=key)))
        .values_list("chosen_label__value")
        .annotate(contacts=Count("id"))
        .order_by()
    )
    shares = sorted(
        (ValueShare(*row) for row in rows if row[0] is not None),
        key=lambda share: (-share.contacts, share.value),
    )
    without = sum(row[1] for row in rows if row[0] is None)
    having = sum(share.contacts for share in shares)
    shown = shares[:limit]
    return Breakdown(
        key,
        having + without,
        shown,
        having - sum(share.contacts for share in shown),
        without,
        sample,
    )
