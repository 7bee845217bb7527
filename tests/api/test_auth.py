import hashlib
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.api.conftest import ApiClient
from trackly.api_keys import LAST_USED_PRECISION, api_key_create, api_key_revoke, find_api_key
from trackly.models import ApiKey


def test_a_key_is_trk_and_32_letters_and_digits_stored_only_as_its_hash(account):
    api_key, key = api_key_create(account=account, name="Shop")
    assert re.fullmatch(r"trk_[A-Za-z0-9]{32}", key)
    assert api_key.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert api_key.prefix == key[:12]
    stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert key not in [str(value) for value in stored.values()]


def test_keys_differ(account):
    keys = {api_key_create(account=account, name=f"k{n}")[1] for n in range(20)}
    assert len(keys) == 20


def test_find_api_key_needs_the_whole_key(account):
    api_key, key = api_key_create(account=account, name="Shop")
    assert find_api_key(key) == api_key
    assert find_api_key(key[:-1] + ("a" if key[-1] != "a" else "b")) is None
    assert find_api_key(key[:12]) is None
    assert find_api_key(key + "x") is None
    assert find_api_key("") is None


def test_a_request_without_a_key_is_401_missing_api_key(anonymous_api, sending_list):
    response = anonymous_api.get("lists")
    assert response.status_code == 401
    assert response.json() == {
        "error": "Send your API key in the X-Api-Key header.",
        "code": "missing_api_key",
    }


@pytest.mark.parametrize(
    "key", ["trk_" + "a" * 32, "not-a-key", "trk_short", "Bearer trk_" + "b" * 32]
)
def test_an_unknown_or_malformed_key_is_401_invalid_api_key(db, key):
    response = ApiClient(key).get("lists")
    assert response.status_code == 401
    assert response.json() == {
        "error": "This API key is not valid; it may have been revoked.",
        "code": "invalid_api_key",
    }


def test_a_revoked_key_is_401_invalid_api_key(api_key, api):
    assert api.get("lists").status_code == 200
    api_key_revoke(api_key=api_key[0])
    response = api.get("lists")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


def test_a_read_only_key_reads_but_does_not_write(read_only_api, sending_list):
    assert read_only_api.get("lists").status_code == 200
    response = read_only_api.post("contacts", {"phone_number": "+14155551234"})
    assert response.status_code == 403
    assert response.json() == {
        "error": "This API key is read-only; it cannot change anything.",
        "code": "forbidden",
    }


def test_a_read_only_key_may_count_an_audience_since_that_saves_nothing(read_only_api, contact):
    response = read_only_api.post("audiences/count", {"conditions": "tier = gold"})
    assert response.status_code == 200
    assert response.json() == {"count": 1}


def test_last_used_is_recorded_at_most_once_a_minute(api_key, api, django_assert_num_queries):
    record, _ = api_key
    assert record.last_used_at is None
    api.get("labels")
    record.refresh_from_db()
    first = record.last_used_at
    assert first is not None
    # Within the minute: the key is read, and not written again.
    with django_assert_num_queries(2):  # the key, the catalogue
        api.get("labels")
    record.refresh_from_db()
    assert record.last_used_at == first
    ApiKey.objects.filter(pk=record.pk).update(
        last_used_at=timezone.now() - LAST_USED_PRECISION - timedelta(seconds=1)
    )
    api.get("labels")
    record.refresh_from_db()
    assert record.last_used_at > first


def test_the_api_needs_no_login_and_never_redirects_to_it(api, sending_list):
    # The client has no session: LoginRequiredMiddleware would answer 302 to the login page.
    response = api.get("lists")
    assert response.status_code == 200
    assert "Location" not in response


def test_the_dashboard_still_needs_a_login(db):
    response = Client().get("/a/acme/jobs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_csrf_does_not_apply_to_key_authenticated_calls(api_key, sending_list):
    client = ApiClient(api_key[1])
    client.client = Client(enforce_csrf_checks=True)
    response = client.post("contacts", {"phone_number": "+14155551234"})
    assert response.status_code == 201


def test_a_logged_in_user_without_a_key_is_not_let_in(admin_client, sending_list):
    # Sessions are not API credentials, so a forged cross-site request cannot use one.
    response = admin_client.get("/api/v1/lists")
    assert response.status_code == 401
    assert response.json()["code"] == "missing_api_key"


def test_the_docs_and_the_schema_are_public(anonymous_api):
    assert anonymous_api.get("openapi.json").status_code == 200
    assert anonymous_api.get("docs").status_code == 200
