import json

import pytest
from django.db import connection

from contacts.models import Contact, LabelKeyCount
from tests.factories import ContactFactory, SendingListFactory, label_contact

SEED_REQUEST = {
    "phone_number": "+14155551234",
    "labels": {"source": "api", "campaign": "onboarding"},
}


# Statements of one upsert, transaction control included; the rate counters add 3 where the cache
# is the database (PostgreSQL) and none where it is a file of its own (SQLite).
RATE_COUNTER_QUERIES = 3 if connection.vendor == "postgresql" else 0
UPSERT_QUERIES_NEW = 8 + RATE_COUNTER_QUERIES
UPSERT_QUERIES_EXISTING = 10 + RATE_COUNTER_QUERIES


def _labels(contact: Contact) -> dict[str, str]:
    return dict(contact.labels.values_list("key", "value"))


# POST /contacts


def test_the_seeds_request_creates_the_contact(api, sending_list):
    response = api.post("contacts", SEED_REQUEST)
    assert response.status_code == 201
    body = response.json()
    contact = Contact.objects.get()
    assert body == {
        "id": contact.pk,
        "phone_number": "+14155551234",
        "list_id": sending_list.pk,
        "status": "subscribed",
        "labels": {"campaign": "onboarding", "source": "api"},
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    assert body["created_at"].endswith("Z")


def test_a_new_contact_is_answered_as_stored_without_reading_it_back(
    api, sending_list, django_assert_max_num_queries
):
    api.post("contacts", {**SEED_REQUEST, "phone_number": "+14155550001"})  # key stamped
    # The key, the rate counters, the list, the number's lookup, then one transaction: the
    # duplicate check, the contact and its labels; nothing after it.
    with django_assert_max_num_queries(UPSERT_QUERIES_NEW) as captured:
        response = api.post("contacts", SEED_REQUEST)
    assert response.status_code == 201
    assert not captured.captured_queries[-1]["sql"].startswith("SELECT")
    contact = Contact.objects.get(phone_number=SEED_REQUEST["phone_number"])
    stored = api.get(f"contacts/{contact.pk}").json()
    assert response.json() == stored
    assert stored["labels"] == {"campaign": "onboarding", "source": "api"}


def test_an_existing_contacts_upsert_is_bounded_in_queries(
    api, contact, django_assert_max_num_queries
):
    api.post("contacts", {"phone_number": contact.phone_number, "labels": {"a": "1"}})
    with django_assert_max_num_queries(UPSERT_QUERIES_EXISTING):
        response = api.post(
            "contacts", {"phone_number": contact.phone_number, "labels": {"a": "2"}}
        )
    assert response.status_code == 200
    assert response.json() == api.get(f"contacts/{contact.pk}").json()


def test_the_same_number_again_merges_labels_and_answers_200(api, contact):
    response = api.post("contacts", SEED_REQUEST)
    assert response.status_code == 200
    assert response.json()["id"] == contact.pk
    assert response.json()["labels"] == {
        "campaign": "onboarding",
        "source": "api",
        "tier": "gold",
    }
    assert Contact.objects.count() == 1


def test_numbers_are_normalised_with_the_accounts_region(api, contact):
    response = api.post("contacts", {"phone_number": "(415) 555-1234", "labels": {"a": "b"}})
    assert response.status_code == 200
    assert response.json()["id"] == contact.pk


def test_an_unsubscribed_contact_gets_the_labels_but_stays_unsubscribed(api, contact):
    api.post(f"contacts/{contact.pk}/unsubscribe")
    response = api.post("contacts", SEED_REQUEST)
    assert response.status_code == 200
    assert response.json()["status"] == "unsubscribed"
    assert response.json()["labels"]["source"] == "api"


def test_without_list_id_several_active_lists_is_missing_list(api, account, sending_list):
    SendingListFactory(account=account, name="Second")
    response = api.post("contacts", SEED_REQUEST)
    assert response.status_code == 400
    message = "This account has 2 active sending lists; say which one with list_id."
    assert response.json() == {
        "error": message,
        "code": "missing_list",
        "details": [{"field": "list_id", "message": message}],
    }
    assert not Contact.objects.exists()


def test_without_list_id_archived_lists_do_not_count(api, account, sending_list):
    SendingListFactory(account=account, name="Old", status="archived")
    assert api.post("contacts", SEED_REQUEST).status_code == 201


def test_without_any_active_list_is_missing_list(api, account):
    response = api.post("contacts", SEED_REQUEST)
    assert response.status_code == 400
    assert response.json()["error"] == "This account has no active sending list; create one first."


def test_list_id_chooses_the_list(api, account, sending_list):
    second = SendingListFactory(account=account, name="Second")
    response = api.post("contacts", {**SEED_REQUEST, "list_id": second.pk})
    assert response.status_code == 201
    assert response.json()["list_id"] == second.pk


def test_another_accounts_list_is_not_found(api, sending_list, other_contact):
    other_list = other_contact.sending_list_id
    response = api.post("contacts", {**SEED_REQUEST, "list_id": other_list})
    assert response.status_code == 404
    assert response.json() == {
        "error": f"No sending list with id {other_list}.",
        "code": "not_found",
    }
    assert Contact.objects.filter(sending_list_id=other_list).count() == 1


def test_an_invalid_phone_is_invalid_phone(api, sending_list):
    response = api.post("contacts", {"phone_number": "12"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "'12' is not a valid phone number.",
        "code": "invalid_phone",
        "details": [
            {
                "field": "phone_number",
                "message": "'12' is not a valid phone number.",
                "code": "invalid_phone",
            }
        ],
    }


@pytest.mark.parametrize(
    ("labels", "code"),
    [
        ({"first name": "Ann"}, "invalid_label_key"),
        ({"k" * 65: "v"}, "invalid_label_key"),
        ({"tier": ""}, "invalid_label_value"),
        ({"tier": "a\nb"}, "invalid_label_value"),
        ({"tier": "x" * 257}, "invalid_label_value"),
        ({"tier": 5}, "invalid_label_value"),
        ({f"k{n}": "v" for n in range(51)}, "too_many_labels"),
    ],
)
def test_invalid_labels_are_refused_with_the_validators_code(api, sending_list, labels, code):
    response = api.post("contacts", {"phone_number": "+14155551234", "labels": labels})
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not Contact.objects.exists()


def test_a_merge_beyond_50_labels_is_refused_and_changes_nothing(api, contact):
    label_contact(contact, {f"k{n}": "v" for n in range(48)})
    response = api.post("contacts", {"phone_number": "+14155551234", "labels": {"new": "x"}})
    assert response.status_code == 400
    assert response.json()["error"] == "A contact can have at most 50 labels; this would make 51."
    assert len(_labels(contact)) == 50


# GET /contacts


@pytest.fixture
def three_contacts(account, sending_list):
    second = SendingListFactory(account=account, name="Second")
    a = label_contact(ContactFactory(sending_list=sending_list), {"tier": "gold", "vip": "yes"})
    b = label_contact(ContactFactory(sending_list=sending_list), {"tier": "silver"})
    c = label_contact(
        ContactFactory(
            sending_list=second, status="unsubscribed", unsubscribed_at="2025-01-01T00:00:00Z"
        ),
        {"tier": "gold"},
    )
    return a, b, c


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [contact["id"] for contact in response.json()["data"]]


def test_contacts_are_listed_with_labels_in_id_order(api, three_contacts, other_contact):
    a, b, c = three_contacts
    response = api.get("contacts")
    assert _ids(response) == [a.pk, b.pk, c.pk]
    assert response.json()["data"][0]["labels"] == {"tier": "gold", "vip": "yes"}
    assert response.json()["pagination"] == {
        "page": 1,
        "per_page": 50,
        "total": 3,
        "total_pages": 1,
    }


def test_contacts_filter_by_list_status_and_phone(api, three_contacts):
    a, b, c = three_contacts
    assert _ids(api.get("contacts", {"list_id": a.sending_list_id})) == [a.pk, b.pk]
    assert _ids(api.get("contacts", {"status": "unsubscribed"})) == [c.pk]
    assert _ids(api.get("contacts", {"phone_number": b.phone_number})) == [b.pk]


def test_contacts_filter_by_conditions_as_text(api, three_contacts):
    a, b, c = three_contacts
    assert _ids(api.get("contacts", {"conditions": "tier = gold"})) == [a.pk, c.pk]
    assert _ids(api.get("contacts", {"conditions": "label:vip NOT EXISTS"})) == [b.pk, c.pk]


def test_contacts_filter_by_conditions_as_a_json_tree(api, three_contacts):
    a, b, _ = three_contacts
    tree = {"or": [{"key": "vip", "op": "EXISTS"}, {"key": "tier", "op": "=", "value": "silver"}]}
    assert _ids(api.get("contacts", {"conditions": json.dumps(tree)})) == [a.pk, b.pk]


def test_malformed_conditions_name_the_column(api, sending_list):
    response = api.get("contacts", {"conditions": "label:source = "})
    assert response.status_code == 400
    assert response.json() == {
        "error": "expected a value after '=' at column 16",
        "code": "invalid_conditions",
        "details": [
            {
                "field": "conditions",
                "message": "expected a value after '=' at column 16",
                "code": "invalid_conditions",
                "column": 16,
            }
        ],
    }


def test_a_bad_json_tree_names_the_path(api, sending_list):
    tree = {"and": [{"key": "a", "op": "="}, {"key": "b", "op": "EXISTS"}]}
    response = api.get("contacts", {"conditions": json.dumps(tree)})
    assert response.status_code == 400
    detail = response.json()["details"][0]
    assert (detail["code"], detail["path"]) == ("invalid_conditions", "and[0]")
    assert response.json()["error"] == "missing field 'value' for operator '=' at and[0]"


def test_an_invalid_key_in_conditions_is_invalid_label_key(api, sending_list):
    response = api.get("contacts", {"conditions": "label:bad$key EXISTS"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_label_key"


def test_another_accounts_list_filter_is_not_found(api, other_contact):
    response = api.get("contacts", {"list_id": other_contact.sending_list_id})
    assert response.status_code == 404


def test_a_page_of_contacts_is_a_few_queries(api, sending_list, django_assert_max_num_queries):
    for _ in range(30):
        label_contact(ContactFactory(sending_list=sending_list), {"a": "1", "b": "2"})
    # The key (and its first use), the count, the page, its labels.
    with django_assert_max_num_queries(5):
        response = api.get("contacts", {"conditions": "a = 1"})
    assert len(response.json()["data"]) == 30


# One contact


def test_a_contact_is_read(api, contact):
    response = api.get(f"contacts/{contact.pk}")
    assert response.status_code == 200
    assert response.json()["labels"] == {"source": "facebook", "tier": "gold"}


def test_another_accounts_contact_is_not_found(api, other_contact):
    for response in (
        api.get(f"contacts/{other_contact.pk}"),
        api.patch(f"contacts/{other_contact.pk}", {"labels": {"a": "b"}}),
        api.put(f"contacts/{other_contact.pk}/labels", {"labels": {}}),
        api.post(f"contacts/{other_contact.pk}/unsubscribe"),
        api.delete(f"contacts/{other_contact.pk}"),
    ):
        assert response.status_code == 404
        assert response.json() == {
            "error": f"No contact with id {other_contact.pk}.",
            "code": "not_found",
        }
    assert _labels(other_contact) == {"source": "google"}
    other_contact.refresh_from_db()
    assert other_contact.is_subscribed


def test_patch_merges_labels_and_null_removes_a_key(api, contact):
    response = api.patch(
        f"contacts/{contact.pk}", {"labels": {"tier": "silver", "source": None, "new": "yes"}}
    )
    assert response.status_code == 200
    assert response.json()["labels"] == {"new": "yes", "tier": "silver"}
    assert _labels(contact) == {"new": "yes", "tier": "silver"}


def test_patch_removing_a_missing_key_is_fine(api, contact):
    response = api.patch(f"contacts/{contact.pk}", {"labels": {"nothing": None}})
    assert response.status_code == 200


def test_patch_with_an_invalid_key_changes_nothing(api, contact):
    response = api.patch(f"contacts/{contact.pk}", {"labels": {"tier": "x", "bad key": "y"}})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_label_key"
    assert response.json()["details"][0]["field"] == "labels"
    assert _labels(contact) == {"source": "facebook", "tier": "gold"}


def test_patch_needs_labels(api, contact):
    response = api.patch(f"contacts/{contact.pk}", {})
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "labels"


def test_patch_beyond_50_labels_is_too_many_labels(api, contact):
    label_contact(contact, {f"k{n}": "v" for n in range(48)})
    response = api.patch(f"contacts/{contact.pk}", {"labels": {"x": "1", "source": None}})
    assert response.status_code == 200
    response = api.patch(f"contacts/{contact.pk}", {"labels": {"y": "1"}})
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_labels"


def test_put_replaces_all_labels(api, contact):
    response = api.put(f"contacts/{contact.pk}/labels", {"labels": {"only": "this"}})
    assert response.status_code == 200
    assert response.json()["labels"] == {"only": "this"}
    assert _labels(contact) == {"only": "this"}


def test_put_with_no_labels_clears_them(api, contact):
    assert api.put(f"contacts/{contact.pk}/labels", {"labels": {}}).json()["labels"] == {}


def test_put_with_too_many_labels_changes_nothing(api, contact):
    labels = {f"k{n}": "v" for n in range(51)}
    response = api.put(f"contacts/{contact.pk}/labels", {"labels": labels})
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_labels"
    assert _labels(contact) == {"source": "facebook", "tier": "gold"}


def test_unsubscribe_and_resubscribe(api, contact):
    response = api.post(f"contacts/{contact.pk}/unsubscribe")
    assert response.status_code == 200
    assert response.json()["status"] == "unsubscribed"
    assert response.json()["labels"] == {"source": "facebook", "tier": "gold"}
    contact.refresh_from_db()
    assert contact.unsubscribed_at is not None
    # Again: nothing changes.
    assert api.post(f"contacts/{contact.pk}/unsubscribe").json()["status"] == "unsubscribed"
    response = api.post(f"contacts/{contact.pk}/resubscribe")
    assert response.json()["status"] == "subscribed"


def test_delete_erases_the_contact_and_its_labels(api, contact, account):
    response = api.delete(f"contacts/{contact.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not LabelKeyCount.objects.filter(account=account).exists()
    assert api.get(f"contacts/{contact.pk}").status_code == 404


def test_a_contact_on_an_archived_list_is_refused(api, sending_list, contact):
    sending_list.status = "archived"
    sending_list.save()
    response = api.post("contacts", {"phone_number": "+14155559999", "list_id": sending_list.pk})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "“Main” is archived: restore it (List settings) to add contacts, import a file or "
        "change labels in bulk."
    )
    assert Contact.objects.count() == 1
