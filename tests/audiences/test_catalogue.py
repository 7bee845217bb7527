"""The label catalogue: the one reader of the label counts, for every page that shows them."""

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
