"""The label catalogue: the one reader of the label counts, for every page that shows them."""

import pytest

from audiences import catalogue
from audiences.catalogue import KeyCount, ValueCount
from tests.factories import ContactFactory, label_contact


def test_label_keys_lists_the_accounts_keys_in_order_with_counts(account, contact, other_contact):
    label_contact(ContactFactory(sending_list=contact.sending_list), {"source": "google"})
    assert catalogue.label_keys(account) == [KeyCount("source", 2), KeyCount("tier", 1)]
    assert catalogue.label_keys(account, limit=1) == [KeyCount("source", 2)]


def test_label_key_is_one_key_of_the_account_or_none(account, contact, other_contact):
    assert catalogue.label_key(account, "tier") == KeyCount("tier", 1)
    assert catalogue.label_key(account, "Tier") is None
    assert catalogue.label_key(other_contact.account, "tier") is None


def test_label_values_come_most_used_first(account, contact):
    label_contact(ContactFactory(sending_list=contact.sending_list), {"source": "google"})
    label_contact(ContactFactory(sending_list=contact.sending_list), {"source": "google"})
    assert catalogue.label_values(account, "source") == [
        ValueCount("google", 2),
        ValueCount("facebook", 1),
    ]
    assert catalogue.label_values(account, "source", limit=1) == [ValueCount("google", 2)]


def test_value_types_count_numbers_dates_and_the_values_that_break_them(account, sending_list):
    values = ["2024-01-15", "2024-02-29", "2024-02-29", "2024-05-01", "Jan 15, 2024", "2023-02-29"]
    for value in [*values, "90"]:
        label_contact(ContactFactory(sending_list=sending_list), {"signup_date": value})
    types = catalogue.value_types(account, "signup_date")
    assert types == catalogue.ValueTypes(contacts=7, numbers=1, dates=4)
    assert (types.main_type, types.not_of("date"), types.not_of("number")) == ("date", 3, 6)
    assert catalogue.values_not_of(account, "signup_date", "date") == [
        ("2023-02-29", 1),
        ("90", 1),
        ("Jan 15, 2024", 1),
    ]
    assert catalogue.value_types(account, "nobody") == catalogue.ValueTypes(0, 0, 0)
    assert catalogue.ValueTypes(4, 2, 0).main_type == "text"


@pytest.fixture
def cities(account, sending_list):
    """Cities of one contact each, but Paris of three."""
    for city in ["Paris", "Paris", "Paris", "Parma", "Sparta", "parish", "Lyon", "Apart"]:
        label_contact(ContactFactory(sending_list=sending_list), {"city": city})


def test_value_search_starts_with_the_prefix_then_any_case_substring(account, cities):
    page = catalogue.search_values(account, "city", "Par")
    assert page.values == [
        ValueCount("Paris", 3),
        ValueCount("Parma", 1),
        ValueCount("Apart", 1),
        ValueCount("Sparta", 1),
        ValueCount("parish", 1),
    ]
    assert page.next_cursor == ""
    assert catalogue.search_values(account, "city", "zz").values == []
    assert catalogue.search_values(account, "town", "Par").values == []


@pytest.mark.parametrize("text", ["", "Par", "a"])
def test_value_search_pages_walk_every_match_once(account, cities, text):
    whole = catalogue.search_values(account, "city", text, limit=100).values
    seen, cursor = [], ""
    while True:
        page = catalogue.search_values(account, "city", text, limit=2, cursor=cursor)
        assert not page.cursor_error
        assert len(page.values) <= 2
        seen += page.values
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == whole
    assert len(whole) == {"": 6, "Par": 5, "a": 5}[text]


@pytest.mark.parametrize("cursor", ["garbage", "s:garbage", "c:x", "x:"])
def test_value_search_refuses_a_cursor_it_did_not_hand_out(account, cities, cursor):
    page = catalogue.search_values(account, "city", "Par", cursor=cursor)
    assert page.cursor_error


def test_value_search_prefix_is_exact_about_case(account, cities):
    assert [v.value for v in catalogue.search_values(account, "city", "par").values] == [
        "parish",
        "Apart",
        "Paris",
        "Parma",
        "Sparta",
    ]
