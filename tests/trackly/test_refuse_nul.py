"""A NUL character in a path or a query string is answered 400 before any view reads it
(PostgreSQL refuses NUL in text: such a value reaching a query was a server error)."""

import pytest
from django.urls import reverse

from tests.api.conftest import ApiClient
from trackly.api_keys import api_key_create
from trackly.middleware import NUL_MESSAGE

MESSAGE = "The address contains a NUL character (%00), which no page of Trackly accepts."


def test_the_message():
    assert NUL_MESSAGE == MESSAGE


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/a/acme/labels/a%00b/", {}),
        ("/a/acme/labels/tier/", {"q": "a\x00b"}),
        ("/a/acme/contacts/", {"q": "\x00"}),
        ("/a/acme/contacts/", {"key": "tier", "value": "gold\x00"}),
        ("/a/acme/audiences/new/", {"conditions": "tier = a\x00b"}),
        ("/a/acme/contacts/", {"a\x00b": "1"}),
    ],
)
def test_dashboard_answers_400_to_nul(viewer_client, contact, path, query):
    response = viewer_client.get(path, query)
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == MESSAGE


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/admin/contacts/contact/", {"q": "a\x00b"}),
        ("/admin/contacts/label/", {"q": "\x00"}),
        ("/admin/contacts/contact/a%00b/change/", {}),
    ],
)
def test_admin_answers_400_to_nul(superuser_client, contact, path, query):
    response = superuser_client.get(path, query)
    assert (response.status_code, response.content.decode()) == (400, MESSAGE)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/labels/a%00b/values", {}),
        ("/api/v1/contacts", {"phone_number": "a\x00b"}),
        ("/api/v1/contacts", {"conditions": "tier = \x00"}),
    ],
)
def test_api_answers_400_to_nul_in_its_error_format(account, path, query):
    api = ApiClient(api_key_create(account=account, name="Shop")[1])
    response = api.get(path, query)
    assert response.status_code == 400
    assert response.json() == {"error": MESSAGE, "code": "invalid_request"}


def test_a_post_with_nul_in_the_query_is_refused_too(editor_client, contact):
    url = reverse("audiences:contacts_label_action", args=["acme"])
    response = editor_client.post(f"{url}?back=%00", {"action": "add", "ids": contact.pk})
    assert (response.status_code, response.content.decode()) == (400, MESSAGE)


def test_addresses_without_nul_are_served(viewer_client, contact):
    response = viewer_client.get("/a/acme/labels/tier/", {"q": "gold"})
    assert response.status_code == 200
