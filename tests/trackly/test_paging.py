"""The keyset paging of the dashboard's tables (`trackly.paging`)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict

from contacts.models import Contact
from tests.factories import ContactFactory, SendingListFactory
from trackly.models import Job
from trackly.paging import BROKEN_CURSOR, CURSOR, keyset_page

PHONE_ORDER = ("phone_number", "id")


def params(cursor: str = "", **filters: str) -> QueryDict:
    query = QueryDict(mutable=True)
    query.update(filters)
    if cursor:
        query[CURSOR] = cursor
    return query


@pytest.fixture
def tied_contacts(account, sending_list):
    """Seven contacts over three lists, with three numbers shared by two or three of them."""
    lists = [
        sending_list,
        SendingListFactory(account=account, name="Second", phone_number="+14155550102"),
        SendingListFactory(account=account, name="Third", phone_number="+14155550103"),
    ]
    # (list, number) in the order of creation, so ids do not follow the numbers.
    made = [(0, "2002"), (0, "2001"), (1, "2002"), (0, "2003"), (1, "2001"), (2, "2002")]
    made.append((0, "2004"))
    return [
        ContactFactory(sending_list=lists[index], phone_number=f"+1415555{number}")
        for index, number in made
    ]


def contacts_of(account):
    return Contact.objects.for_account(account)


def walk_forward(queryset, ordering, per_page):
    pages, cursor = [], ""
    while True:
        page = keyset_page(queryset, ordering, per_page=per_page, params=params(cursor))
        pages.append(page)
        if not page.next_cursor:
            return pages
        cursor = page.next_cursor


def test_pages_hold_every_row_once_in_order_across_ties_in_the_first_column(account, tied_contacts):
    expected = sorted(tied_contacts, key=lambda c: (c.phone_number, c.pk))
    pages = walk_forward(contacts_of(account), PHONE_ORDER, per_page=3)
    assert [[c.pk for c in page.rows] for page in pages] == [
        [c.pk for c in expected[0:3]],
        [c.pk for c in expected[3:6]],
        [c.pk for c in expected[6:7]],
    ]
    # The second page starts between two contacts with the same number.
    assert expected[2].phone_number == expected[3].phone_number
    assert [(p.has_previous, p.has_next) for p in pages] == [
        (False, True),
        (True, True),
        (True, False),
    ]


def test_previous_links_give_back_the_same_pages(account, tied_contacts):
    forward = walk_forward(contacts_of(account), PHONE_ORDER, per_page=3)
    backward = [forward[-1]]
    while backward[-1].previous_cursor:
        cursor = backward[-1].previous_cursor
        backward.append(
            keyset_page(contacts_of(account), PHONE_ORDER, per_page=3, params=params(cursor))
        )
    assert [[c.pk for c in p.rows] for p in reversed(backward)] == [
        [c.pk for c in p.rows] for p in forward
    ]
    first = backward[-1]
    assert (first.has_previous, first.has_next, first.previous_cursor) == (False, True, "")


def test_a_page_exactly_full_at_the_end_has_no_next_page(account, tied_contacts):
    pages = walk_forward(contacts_of(account), PHONE_ORDER, per_page=7)
    assert len(pages) == 1
    assert len(pages[0].rows) == 7
    assert (pages[0].has_next, pages[0].next_cursor) == (False, "")


def test_descending_order_with_equal_times_pages_by_id(account):
    jobs = [Job.objects.create(account=account, kind=Job.Kind.IMPORT) for _ in range(5)]
    noon = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    # Two jobs at one instant (one microsecond apart from a third), two an hour earlier.
    times = [noon - timedelta(hours=1), noon, noon, noon - timedelta(hours=1), noon]
    times[4] += timedelta(microseconds=1)
    for job, at in zip(jobs, times, strict=True):
        Job.objects.filter(pk=job.pk).update(created_at=at)
    ordering = ("-created_at", "-id")
    pages = walk_forward(Job.objects.for_account(account), ordering, per_page=2)
    newest_first = [jobs[4], jobs[2], jobs[1], jobs[3], jobs[0]]
    assert [[j.pk for j in page.rows] for page in pages] == [
        [j.pk for j in newest_first[0:2]],
        [j.pk for j in newest_first[2:4]],
        [j.pk for j in newest_first[4:5]],
    ]
    back = keyset_page(
        Job.objects.for_account(account),
        ordering,
        per_page=2,
        params=params(pages[2].previous_cursor),
    )
    assert [j.pk for j in back.rows] == [j.pk for j in newest_first[2:4]]


def test_descending_phone_order_is_the_ascending_order_reversed(account, tied_contacts):
    ascending = walk_forward(contacts_of(account), PHONE_ORDER, per_page=2)
    descending = walk_forward(contacts_of(account), ("-phone_number", "-id"), per_page=2)
    rows = [c.pk for page in ascending for c in page.rows]
    assert [c.pk for page in descending for c in page.rows] == rows[::-1]


def _tampered(cursor: str) -> str:
    payload, signature = cursor.rsplit(":", 1)
    return f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}:{signature}"


@pytest.mark.parametrize(
    "make_cursor",
    [
        lambda good, other: "garbage",
        lambda good, other: "+14155552001~12",
        lambda good, other: "x" * 10_000,
        lambda good, other: "²:²",
        lambda good, other: _tampered(good),
        # A cursor made by another table (another ordering) is not one of this table's.
        lambda good, other: other,
    ],
    ids=["garbage", "old phone~id link", "long", "unicode", "tampered", "other table"],
)
def test_a_cursor_not_made_by_this_table_gives_the_first_page(account, tied_contacts, make_cursor):
    first = keyset_page(contacts_of(account), PHONE_ORDER, per_page=3, params=params())
    other = keyset_page(contacts_of(account), ("-phone_number", "-id"), per_page=3, params=params())
    cursor = make_cursor(first.next_cursor, other.next_cursor)
    page = keyset_page(contacts_of(account), PHONE_ORDER, per_page=3, params=params(cursor))
    assert [c.pk for c in page.rows] == [c.pk for c in first.rows]
    assert page.cursor_error == BROKEN_CURSOR == "This page link is broken; here is the first page."
    assert (page.has_previous, page.previous_cursor) == (False, "")
    assert page.next_cursor == first.next_cursor


def test_every_page_is_one_query(account, tied_contacts, django_assert_num_queries):
    with django_assert_num_queries(1):
        first = keyset_page(contacts_of(account), PHONE_ORDER, per_page=3, params=params())
    with django_assert_num_queries(1):
        second = keyset_page(
            contacts_of(account), PHONE_ORDER, per_page=3, params=params(first.next_cursor)
        )
    with django_assert_num_queries(1):
        keyset_page(
            contacts_of(account), PHONE_ORDER, per_page=3, params=params(second.previous_cursor)
        )


def test_links_keep_the_filters_and_only_the_kept_ones(account, tied_contacts):
    query = params(q="415", key="tier", job="7")
    page = keyset_page(contacts_of(account), PHONE_ORDER, per_page=3, params=query)
    assert page.filters == "q=415&key=tier&job=7"
    assert page.next_query.startswith("?q=415&key=tier&job=7&cursor=")
    assert page.first_query == "?q=415&key=tier&job=7"
    kept = keyset_page(
        contacts_of(account), PHONE_ORDER, per_page=3, params=query, kept=("q", "key")
    )
    assert kept.next_query.startswith("?q=415&key=tier&cursor=")
    second = keyset_page(
        contacts_of(account),
        PHONE_ORDER,
        per_page=3,
        params=params(kept.next_cursor, q="415", key="tier"),
        kept=("q", "key"),
    )
    # The cursor of the page shown is replaced, never repeated.
    assert second.next_query.count("cursor=") == 1
    assert second.previous_query.startswith("?q=415&key=tier&cursor=")


def test_an_empty_table_has_one_empty_page(account):
    page = keyset_page(contacts_of(account), PHONE_ORDER, per_page=3, params=params())
    assert (page.rows, page.has_next, page.has_previous) == ([], False, False)
    assert (page.next_query, page.previous_query, page.cursor_error) == ("", "", "")


def test_the_ordering_must_end_with_the_primary_key(account):
    with pytest.raises(ValueError, match="The last ordering key must be the primary key"):
        keyset_page(contacts_of(account), ("phone_number",), per_page=3, params=params())
