"""The label catalogue's counts, kept by database triggers, always equal a fresh count."""

import pytest
from django.db import connection
from django.db.models import Count
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from contacts import services
from contacts.models import Contact, Label, LabelKeyCount, LabelValueCount
from tests.factories import AccountFactory, ContactFactory, SendingListFactory


def counted_keys() -> dict:
    rows = Label.objects.values("account_id", "key").annotate(n=Count("id"))
    return {(row["account_id"], row["key"]): row["n"] for row in rows}


def counted_values() -> dict:
    rows = Label.objects.values("account_id", "key", "value").annotate(n=Count("id"))
    return {(row["account_id"], row["key"], row["value"]): row["n"] for row in rows}


def kept_keys() -> dict:
    rows = LabelKeyCount.objects.values_list("account_id", "key", "contacts")
    return {(account, key): n for account, key, n in rows}


def kept_values() -> dict:
    rows = LabelValueCount.objects.values_list("account_id", "key", "value", "contacts")
    return {(account, key, value): n for account, key, value, n in rows}


def test_counts_follow_service_writes(contact, other_contact):
    services.contact_labels_update(contact=contact, labels={"tier": "silver", "vip": "true"})
    assert kept_values() == counted_values()
    assert kept_keys() == {
        (contact.account_id, "source"): 1,
        (contact.account_id, "tier"): 1,
        (contact.account_id, "vip"): 1,
        (other_contact.account_id, "source"): 1,
    }
    assert (contact.account_id, "tier", "gold") not in kept_values()


def test_counts_drop_to_nothing_when_the_last_label_goes(contact):
    services.contact_labels_replace(contact=contact, labels={})
    assert kept_keys() == {}
    assert kept_values() == {}


def test_deleting_a_contact_updates_the_counts(contact, sending_list):
    twin = ContactFactory(sending_list=sending_list, phone_number="+14155550042")
    services.contact_labels_replace(contact=twin, labels={"tier": "gold"})
    assert kept_values()[(contact.account_id, "tier", "gold")] == 2
    contact.delete()
    assert kept_keys() == {(contact.account_id, "tier"): 1}
    assert kept_values() == {(contact.account_id, "tier", "gold"): 1}


def test_set_based_writes_update_the_counts(contact):
    Label.objects.filter(contact=contact).update(value="bulk")
    assert kept_values() == {
        (contact.account_id, "source", "bulk"): 1,
        (contact.account_id, "tier", "bulk"): 1,
    }
    Label.objects.filter(key="source").delete()
    assert kept_keys() == {(contact.account_id, "tier"): 1}


operations = st.lists(
    st.tuples(
        st.sampled_from(["replace", "update", "delete_contact", "bulk_value", "bulk_delete"]),
        st.integers(min_value=0, max_value=3),
        st.dictionaries(
            st.sampled_from(["a", "b", "A", "c-d"]), st.sampled_from(["x", "y", "X"]), max_size=3
        ),
    ),
    max_size=12,
)


class LabelCountsPropertyTests(TestCase):
    @settings(max_examples=60)
    @given(operations)
    def test_counts_equal_a_fresh_count_after_any_writes(self, steps):
        accounts = [AccountFactory(), AccountFactory()]
        lists = [SendingListFactory(account=account) for account in accounts]
        contacts = [ContactFactory(sending_list=lists[index % 2]) for index in range(4)]
        for action, index, labels in steps:
            contact = contacts[index]
            if not Contact.objects.filter(pk=contact.pk).exists():
                continue
            if action == "replace":
                services.contact_labels_replace(contact=contact, labels=labels)
            elif action == "update":
                services.contact_labels_update(
                    contact=contact, labels=labels, remove=[k for k in ("b",) if k not in labels]
                )
            elif action == "delete_contact":
                contact.delete()
            elif action == "bulk_value":
                Label.objects.filter(contact=contact).update(value="x")
            else:
                Label.objects.filter(key__in=labels.keys()).delete()
        assert kept_keys() == counted_keys()
        assert kept_values() == counted_values()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the count triggers' plans")
def test_a_small_change_after_a_large_one_finds_its_count_rows_by_index(sending_list):
    """The trigger's plans are kept per connection: after a statement of many labels, a
    statement of a few must still look their count rows up, not read the whole count table."""
    account_id = sending_list.account_id
    contacts = [
        ContactFactory(sending_list=sending_list, phone_number=f"+1415555{n:04d}")
        for n in range(300)
    ]
    Label.objects.bulk_create(
        [Label(account_id=account_id, contact=c, key="code", value=f"v{c.pk}") for c in contacts]
        + [Label(account_id=account_id, contact=c, key="tier", value="gold") for c in contacts]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_labelvaluecount")
        plans = []
        connection.connection.add_notice_handler(
            lambda notice: plans.append(notice.message_primary)
        )
        cursor.execute("LOAD 'auto_explain'")
        cursor.execute(
            "SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; "
            "SET auto_explain.log_level = notice; SET client_min_messages = notice"
        )
        cursor.execute("DELETE FROM contacts_label WHERE key = 'code'")
        plans.clear()
        cursor.execute(
            "DELETE FROM contacts_label WHERE key = 'tier' AND contact_id = %s", [contacts[0].pk]
        )
        cursor.execute("RESET auto_explain.log_min_duration; RESET client_min_messages")
    decrement = [plan for plan in plans if "UPDATE contacts_labelvaluecount" in plan]
    assert len(decrement) == 1
    assert "Index Scan using labelvaluecount_account_key_value_uniq" in decrement[0]
    assert "Seq Scan on contacts_labelvaluecount" not in decrement[0]
    assert kept_values() == {(account_id, "tier", "gold"): 299}
