"""One rule, one message: the dashboard's forms, the API and the admin refuse the same input
with the same text, because they call the same check."""

import pytest
from django.urls import reverse

from contacts.services import LIST_NAME_TAKEN, LIST_NUMBER_TAKEN
from tests.factories import SendingListFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def dashboard_new_list(admin_client, name: str, phone_number: str):
    """The new-list form's errors, by field, as the dashboard shows them."""
    response = admin_client.post(
        reverse("contacts:sending_lists", args=["acme"]),
        {"name": name, "phone_number": phone_number},
        **HTMX,
    )
    assert response.status_code == 200
    return response.context["form"].errors


def admin_new_list(superuser_client, account, name: str, phone_number: str):
    response = superuser_client.post(
        reverse("admin:contacts_sendinglist_add"),
        {"account": account.pk, "name": name, "phone_number": phone_number, "status": "active"},
    )
    assert response.status_code == 200
    return response.context["adminform"].form.errors


@pytest.mark.parametrize(
    ("name", "phone_number", "field", "message"),
    [
        ("Main", "+14155550199", "name", LIST_NAME_TAKEN),
        ("Other", "(415) 555-0100", "phone_number", LIST_NUMBER_TAKEN),
    ],
)
def test_a_taken_list_name_or_number_has_one_message_on_every_face(
    api, admin_client, superuser_client, account, sending_list, name, phone_number, field, message
):
    assert message in {
        LIST_NAME_TAKEN: "A sending list with this name already exists.",
        LIST_NUMBER_TAKEN: "A sending list with this number already exists.",
    }
    response = api.post("lists", {"name": name, "phone_number": phone_number})
    assert response.status_code == 409
    assert response.json() == {"error": message, "code": "conflict"}
    assert dashboard_new_list(admin_client, name, phone_number) == {field: [message]}
    assert admin_new_list(superuser_client, account, name, phone_number) == {field: [message]}


def test_renaming_a_list_to_a_taken_name_has_the_same_message(
    admin_client, superuser_client, account, sending_list
):
    promos = SendingListFactory(account=account, name="Promos", phone_number="+14155550111")
    response = admin_client.post(
        reverse("contacts:sending_list_rename", args=["acme", promos.pk]),
        {"name": "Main"},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [LIST_NAME_TAKEN]
    response = superuser_client.post(
        reverse("admin:contacts_sendinglist_change", args=[promos.pk]),
        {"name": "Main", "phone_number": promos.phone_number, "status": "active"},
    )
    assert response.context["adminform"].form.errors == {"name": [LIST_NAME_TAKEN]}


CONTROL_CHARACTER = "The text contains the control character U+0007."


def test_a_list_name_with_a_control_character_has_one_message_on_every_face(
    api, admin_client, superuser_client, account
):
    response = api.post("lists", {"name": "Ma\x07in", "phone_number": "+14155550100"})
    assert response.status_code == 400
    assert response.json() == {
        "error": f"name: {CONTROL_CHARACTER}",
        "code": "invalid_request",
        "details": [{"field": "name", "message": CONTROL_CHARACTER, "code": "invalid_request"}],
    }
    errors = dashboard_new_list(admin_client, "Ma\x07in", "+14155550100")
    assert errors == {"name": [CONTROL_CHARACTER]}
    errors = admin_new_list(superuser_client, account, "Ma\x07in", "+14155550100")
    assert errors == {"name": [CONTROL_CHARACTER]}
    assert not account.sending_lists.exists()


@pytest.mark.parametrize(
    ("field", "data"),
    [
        ("name", {"name": "VIP\x07"}),
        ("description", {"name": "VIP", "description": "Our best\nbuyers\x07"}),
    ],
)
def test_an_audience_text_with_a_control_character_has_one_message_on_every_face(
    api, admin_client, superuser_client, account, field, data
):
    response = api.post("audiences", data)
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"field": field, "message": CONTROL_CHARACTER, "code": "invalid_request"}
    ]
    response = admin_client.post(
        reverse("audiences:audience_new", args=["acme"]), {"conditions": "", **data}
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {field: [CONTROL_CHARACTER]}
    response = superuser_client.post(
        reverse("admin:audiences_audience_add"),
        {"account": account.pk, "conditions": "", "status": "active", **data},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {field: [CONTROL_CHARACTER]}
    assert not account.audiences.exists()


def test_an_audience_description_keeps_its_line_breaks(api, account):
    response = api.post("audiences", {"name": "VIP", "description": "Our best\r\n\tbuyers"})
    assert response.status_code == 201
    assert response.json()["description"] == "Our best\r\n\tbuyers"
