import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from contacts import services
from contacts.models import Contact, Label
from tests.factories import ContactFactory, SendingListFactory, label_contact


def labels_of(contact) -> dict[str, str]:
    return dict(Label.objects.filter(contact=contact).values_list("key", "value"))


def test_replace_sets_exactly_the_given_labels(contact):
    services.contact_labels_replace(contact=contact, labels={"tier": "silver", "vip": "true"})
    assert labels_of(contact) == {"tier": "silver", "vip": "true"}
    assert set(Label.objects.filter(contact=contact).values_list("account_id", flat=True)) == {
        contact.account_id
    }


def test_update_merges_and_removes(contact):
    result = services.contact_labels_update(
        contact=contact, labels={"tier": "silver", "cohort": "2024-Q1"}, remove=["source"]
    )
    assert result == {"tier": "silver", "cohort": "2024-Q1"}
    assert labels_of(contact) == {"tier": "silver", "cohort": "2024-Q1"}


def test_an_invalid_label_changes_nothing(contact):
    with pytest.raises(ValidationError) as info:
        services.contact_labels_replace(contact=contact, labels={"tier": "silver", "bad key": "x"})
    assert info.value.code == "invalid_label_key"
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_the_fifty_first_label_is_refused_and_nothing_changes(contact):
    full = {f"k{i}": "v" for i in range(50)}
    services.contact_labels_replace(contact=contact, labels=full)
    with pytest.raises(ValidationError) as info:
        services.contact_labels_update(contact=contact, labels={"k0": "changed", "extra": "x"})
    assert info.value.code == "too_many_labels"
    assert labels_of(contact) == full
    # Replacing a value at the limit is fine: the count does not grow.
    services.contact_labels_update(contact=contact, labels={"k0": "changed"})
    assert labels_of(contact)["k0"] == "changed"


def test_a_key_cannot_be_set_and_removed_at_once(contact):
    with pytest.raises(ValidationError) as info:
        services.contact_labels_update(contact=contact, labels={"tier": "x"}, remove=["tier"])
    assert info.value.messages == ["A label key cannot be both set and removed."]


def test_label_writes_take_a_bounded_number_of_queries(contact, django_assert_max_num_queries):
    labels = {f"k{i}": f"v{i}" for i in range(50)}
    with django_assert_max_num_queries(7):
        services.contact_labels_replace(contact=contact, labels=labels)


def test_create_normalises_the_phone_and_refuses_a_duplicate(sending_list):
    contact = services.contact_create(
        sending_list=sending_list, phone_number="(415) 555-0000", labels={"source": "api"}
    )
    assert contact.phone_number == "+14155550000"
    assert contact.account_id == sending_list.account_id
    assert labels_of(contact) == {"source": "api"}
    with pytest.raises(ValidationError) as info:
        services.contact_create(
            sending_list=sending_list, phone_number="4155550000", labels={"source": "api"}
        )
    assert info.value.code == "conflict"
    assert info.value.messages == ["+14155550000 is already on this list."]


def test_unsubscribe_and_resubscribe(contact):
    services.contact_unsubscribe(contact=contact)
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert contact.unsubscribed_at is not None
    services.contact_resubscribe(contact=contact)
    contact.refresh_from_db()
    assert contact.status == Contact.Status.SUBSCRIBED
    assert contact.unsubscribed_at is None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_additions_cannot_pass_the_limit():
    """Two requests each add one label to a contact with 49: exactly one of them succeeds.

    Ten rounds, because an unguarded race is only lost some of the time.
    """
    sending_list = SendingListFactory()
    for _ in range(10):
        contact = label_contact(
            ContactFactory(sending_list=sending_list), {f"k{i}": "v" for i in range(49)}
        )
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def add(key: str, contact=contact, barrier=barrier, outcomes=outcomes) -> None:
            try:
                barrier.wait()
                services.contact_labels_update(contact=contact, labels={key: "new"})
                outcomes.append("saved")
            except ValidationError as error:
                outcomes.append(error.code)
            finally:
                connection.close()

        threads = [threading.Thread(target=add, args=(key,)) for key in ("first", "second")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(outcomes) == ["saved", "too_many_labels"]
        assert Label.objects.filter(contact=contact).count() == 50


# Sending lists: a name and a number each unique in the account


def test_the_service_refuses_a_taken_list_name_or_number(sending_list, account):
    with pytest.raises(ValidationError) as taken:
        services.sending_list_create(account=account, name="Main", phone_number="4155550100")
    assert taken.value.message_dict == {
        "name": ["A sending list with this name already exists."],
        "phone_number": ["A sending list with this number already exists."],
    }
    assert [e.code for errors in taken.value.error_dict.values() for e in errors] == [
        "conflict",
        "conflict",
    ]
    assert (
        services.sending_list_create(
            account=account, name="Promos", phone_number="4155550111"
        ).phone_number
        == "+14155550111"
    )


def test_the_service_refuses_renaming_a_list_to_a_taken_name(sending_list, account):
    promos = SendingListFactory(account=account, name="Promos", phone_number="+14155550111")
    with pytest.raises(ValidationError) as taken:
        services.sending_list_update(sending_list=promos, name="Main")
    assert taken.value.message_dict == {"name": ["A sending list with this name already exists."]}
    promos.refresh_from_db()
    assert promos.name == "Promos"
    services.sending_list_update(sending_list=promos, name="Promos")
    services.sending_list_update(sending_list=promos, name="Offers")
    promos.refresh_from_db()
    assert promos.name == "Offers"


def test_a_name_taken_by_a_concurrent_write_is_the_same_error(sending_list, account, monkeypatch):
    # The first check passes as if the other list were not committed yet; the unique constraint
    # refuses the write, and the error is the check's, not an IntegrityError.
    check = services.sending_list_check_unique
    calls = []

    def check_after_the_first(**kwargs):
        calls.append(kwargs)
        if len(calls) > 1:
            check(**kwargs)

    monkeypatch.setattr(services, "sending_list_check_unique", check_after_the_first)
    with pytest.raises(ValidationError) as taken:
        services.sending_list_create(account=account, name="Main", phone_number="4155550111")
    assert taken.value.message_dict == {"name": ["A sending list with this name already exists."]}
    assert len(calls) == 2
    assert account.sending_lists.count() == 1


@pytest.mark.parametrize("name", ["Spring\x00sale", "Spring\nsale", "Spring\u2028sale"])
def test_the_list_services_refuse_a_name_with_a_control_character(sending_list, account, name):
    # The services check the name themselves, so a caller that skips the forms and the API
    # (a command, a script) gets the same refusal.
    char = next(c for c in name if not c.isalpha())
    with pytest.raises(ValidationError) as created:
        services.sending_list_create(account=account, name=name, phone_number="+14155550999")
    with pytest.raises(ValidationError) as renamed:
        services.sending_list_update(sending_list=sending_list, name=name)
    for error in (created.value, renamed.value):
        assert error.code == "control_character"
        assert error.messages == [f"The text contains the control character U+{ord(char):04X}."]
    sending_list.refresh_from_db()
    assert sending_list.name != name
    assert not account.sending_lists.filter(phone_number="+14155550999").exists()
