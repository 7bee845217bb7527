from contacts.models import SendingList
from tests.factories import ContactFactory, SendingListFactory


def test_lists_are_listed_with_subscribed_counts(api, account, sending_list, other_contact):
    ContactFactory(sending_list=sending_list)
    ContactFactory(
        sending_list=sending_list, status="unsubscribed", unsubscribed_at="2025-01-01T00:00:00Z"
    )
    archived = SendingListFactory(account=account, name="Old", status="archived")
    response = api.get("lists")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(d["id"], d["contact_count"], d["status"]) for d in data] == [
        (sending_list.pk, 1, "active"),
        (archived.pk, 0, "archived"),
    ]
    assert data[0]["name"] == "Main"
    assert data[0]["phone_number"] == "+14155550100"


def test_a_list_is_created_with_a_normalised_number(api, account):
    response = api.post("lists", {"name": " Promotions ", "phone_number": "(415) 555-0199"})
    assert response.status_code == 201
    created = SendingList.objects.get(account=account)
    assert response.json() == {
        "id": created.pk,
        "name": "Promotions",
        "phone_number": "+14155550199",
        "status": "active",
        "contact_count": 0,
        "created_at": response.json()["created_at"],
    }


def test_a_list_name_or_number_in_use_is_a_conflict(api, sending_list):
    response = api.post("lists", {"name": "Main", "phone_number": "+14155550199"})
    assert response.status_code == 409
    assert response.json() == {
        "error": "A sending list with this name already exists.",
        "code": "conflict",
    }
    response = api.post("lists", {"name": "Other", "phone_number": "415 555 0100"})
    assert response.status_code == 409
    assert response.json()["error"] == "A sending list with this number already exists."


def test_another_account_may_use_the_same_name_and_number(outsider_api, sending_list):
    response = outsider_api.post("lists", {"name": "Main", "phone_number": "+14155550100"})
    assert response.status_code == 201


def test_a_list_needs_a_valid_number_and_a_name(api, account):
    response = api.post("lists", {"name": "Main", "phone_number": "nope"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_phone"
    response = api.post("lists", {"name": "   ", "phone_number": "+14155550100"})
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "name"
    assert not SendingList.objects.exists()


def test_a_list_is_read(api, sending_list):
    response = api.get(f"lists/{sending_list.pk}")
    assert response.status_code == 200
    assert response.json()["name"] == "Main"


def test_another_accounts_list_is_not_found(api, other_contact):
    list_id = other_contact.sending_list_id
    response = api.get(f"lists/{list_id}")
    assert response.status_code == 404
    assert response.json() == {"error": f"No sending list with id {list_id}.", "code": "not_found"}
