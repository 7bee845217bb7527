"""The contacts table's filters, as the table applies them and as a recorded bulk action does."""

import pytest

from contacts.filters import PHONE_SEARCH_TOO_SHORT, filter_contacts, saved_filter_contacts
from contacts.models import Contact
from tests.factories import ContactFactory, label_contact


@pytest.fixture
def contacts(account, contact):
    label_contact(
        ContactFactory(sending_list=contact.sending_list, phone_number="+14155557777"),
        {"source": "google"},
    )
    return Contact.objects.for_account(account)


def phones(contacts) -> list[str]:
    return sorted(contacts.values_list("phone_number", flat=True))


def test_a_full_number_in_any_format_finds_its_contact(contacts):
    found, hint = filter_contacts(contacts, phone="(415) 555-1234", region="US")
    assert (phones(found), hint) == (["+14155551234"], "")


def test_three_digits_search_inside_numbers_and_fewer_match_nothing(contacts):
    assert phones(filter_contacts(contacts, phone="777", region="US")[0]) == ["+14155557777"]
    found, hint = filter_contacts(contacts, phone="77", region="US")
    assert (phones(found), hint) == ([], PHONE_SEARCH_TOO_SHORT)


def test_a_label_filters_by_key_and_by_value(contacts):
    by_key = filter_contacts(contacts, key="source", region="US")[0]
    assert phones(by_key) == ["+14155551234", "+14155557777"]
    by_value = filter_contacts(contacts, key="source", value=" google ", region="US")[0]
    assert phones(by_value) == ["+14155557777"]


@pytest.mark.parametrize(
    ("saved", "expected"),
    [
        ({"q": "", "key": " source ", "value": "facebook"}, ["+14155551234"]),
        ({"q": "7777", "key": "", "value": ""}, ["+14155557777"]),
        ({"q": "", "key": "", "value": ""}, ["+14155551234", "+14155557777"]),
        # Filters the table refuses match nothing.
        ({"q": "", "key": "bad key", "value": ""}, []),
        ({"q": "", "key": "", "value": "google"}, []),
        ({"q": "1" * 65, "key": "", "value": ""}, []),
        ({"q": "77", "key": "", "value": ""}, []),
    ],
)
def test_a_recorded_filter_matches_what_the_table_showed(contacts, saved, expected):
    assert phones(saved_filter_contacts(contacts, saved, region="US")) == expected


def test_a_recorded_filter_keeps_to_its_list(contacts, contact):
    elsewhere = ContactFactory(sending_list__account=contact.account, phone_number="+14155551234")
    label_contact(elsewhere, {"source": "facebook"})
    saved = {"q": "", "key": "source", "value": "", "list_id": contact.sending_list_id}
    found = saved_filter_contacts(contacts, saved, region="US")
    assert {c.sending_list_id for c in found} == {contact.sending_list_id}
    assert phones(saved_filter_contacts(contacts, {**saved, "list_id": ""}, region="US")) == [
        "+14155551234",
        "+14155551234",
        "+14155557777",
    ]
