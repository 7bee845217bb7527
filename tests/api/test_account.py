"""The account in the API: read by every key of the account, changed only by an admin's key,
with the settings page's validators."""

import pytest

from tests.api.conftest import ApiClient
from trackly.api_keys import api_key_create
from trackly.models import Membership, Role


def test_the_account_is_read_with_its_time_zone(api, account):
    account.time_zone = "Pacific/Auckland"
    account.save()
    response = api.get("account")
    assert response.status_code == 200
    assert response.json() == {
        "name": account.name,
        "slug": "acme",
        "default_region": "US",
        "time_zone": "Pacific/Auckland",
        "created_at": response.json()["created_at"],
    }


def test_a_read_only_key_reads_the_account(read_only_api, account):
    assert read_only_api.get("account").json()["time_zone"] == "UTC"


def test_each_key_sees_its_own_account(outsider_api, account, other_account):
    assert outsider_api.get("account").json()["slug"] == other_account.slug


def test_an_admins_key_changes_the_time_zone_and_region(api, account):
    response = api.patch("account", {"time_zone": "Europe/London", "default_region": "gb"})
    assert response.status_code == 200
    assert (response.json()["time_zone"], response.json()["default_region"]) == (
        "Europe/London",
        "GB",
    )
    account.refresh_from_db()
    assert (account.name, account.default_region, account.time_zone) == (
        "Acme Shoes",
        "GB",
        "Europe/London",
    )


def test_only_the_fields_given_change(api, account):
    response = api.patch("account", {"name": "  Acme Boots "})
    assert response.status_code == 200
    account.refresh_from_db()
    assert (account.name, account.default_region, account.time_zone) == ("Acme Boots", "US", "UTC")


def test_an_unknown_time_zone_is_refused_with_the_settings_page_message(api, account):
    response = api.patch("account", {"time_zone": "Mars/Olympus", "name": "Other"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "'Mars/Olympus' is not a known time zone.",
        "code": "invalid_time_zone",
        "details": [
            {
                "field": "time_zone",
                "message": "'Mars/Olympus' is not a known time zone.",
                "code": "invalid_time_zone",
            }
        ],
    }
    account.refresh_from_db()
    assert (account.name, account.time_zone) == ("Acme Shoes", "UTC")


def test_the_dashboard_and_the_api_refuse_a_time_zone_with_one_message(api, admin_client, account):
    api_message = api.patch("account", {"time_zone": "europe/london"}).json()["error"]
    response = admin_client.post(
        "/a/acme/settings/",
        {"name": "Acme", "default_region": "US", "time_zone": "europe/london"},
    )
    assert response.context["settings_form"].errors["time_zone"] == [api_message]
    assert api_message == "'europe/london' is not a known time zone."


def test_an_unknown_region_is_refused(api, account):
    response = api.patch("account", {"default_region": "XX"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_region"
    assert response.json()["error"] == "'XX' is not a known phone region."
    assert response.json()["details"][0]["field"] == "default_region"


@pytest.mark.parametrize("body", [{"name": ""}, {"slug": "other"}, {"time_zone": 5}])
def test_a_malformed_change_is_refused(api, account, body):
    response = api.patch("account", body)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    account.refresh_from_db()
    assert (account.name, account.slug) == ("Acme Shoes", "acme")


@pytest.mark.parametrize(
    ("role", "message"),
    [
        (Role.EDITOR, "this key's creator is now an editor."),
        (Role.VIEWER, "this key's creator is now a viewer."),
    ],
)
def test_a_key_of_a_creator_who_is_not_an_admin_cannot_change_the_account(
    account, admin_user, role, message
):
    Membership.objects.filter(account=account, user=admin_user).update(role=role)
    client = ApiClient(api_key_create(account=account, name="Old", created_by=admin_user)[1])
    response = client.patch("account", {"time_zone": "Europe/London"})
    assert response.status_code == 403
    assert response.json() == {
        "error": "Only an admin's API key can change the account's settings; " + message,
        "code": "forbidden",
    }
    assert client.get("account").status_code == 200
    account.refresh_from_db()
    assert account.time_zone == "UTC"


def test_a_key_of_a_creator_who_left_cannot_change_the_account(account, editor_user):
    client = ApiClient(api_key_create(account=account, name="Old", created_by=editor_user)[1])
    Membership.objects.filter(account=account, user=editor_user).delete()
    response = client.patch("account", {"time_zone": "Europe/London"})
    assert response.status_code == 403
    assert response.json()["error"].endswith("this key's creator has left the account.")


def test_a_command_line_key_changes_the_account(account):
    client = ApiClient(api_key_create(account=account, name="Ops")[1])
    assert client.patch("account", {"time_zone": "Asia/Tokyo"}).status_code == 200
    account.refresh_from_db()
    assert account.time_zone == "Asia/Tokyo"


def test_a_read_only_admin_key_cannot_change_the_account(read_only_api, account):
    response = read_only_api.patch("account", {"time_zone": "Asia/Tokyo"})
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


def test_other_methods_are_not_allowed(api):
    response = api.delete("account")
    assert response.status_code == 405
    assert response.json()["error"] == "DELETE is not allowed here; use GET, PATCH."
