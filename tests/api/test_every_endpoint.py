"""Every endpoint, tried without a key, with a bad or revoked key, with a read-only key, and by an
outsider; the table must list every operation of the OpenAPI schema."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audiences.models import Audience
from tests.api.conftest import ApiClient, operations
from trackly.api_keys import api_key_create, api_key_revoke
from trackly.models import Job

# (method, path template, body, writes, names an object of the account)
ENDPOINTS = [
    ("GET", "/api/v1/account", None, False, False),
    ("PATCH", "/api/v1/account", {"time_zone": "Europe/London"}, True, False),
    ("GET", "/api/v1/lists", None, False, False),
    ("POST", "/api/v1/lists", {"name": "New", "phone_number": "+14155550111"}, True, False),
    ("GET", "/api/v1/lists/{list_id}", None, False, True),
    ("GET", "/api/v1/contacts", None, False, False),
    ("POST", "/api/v1/contacts", {"phone_number": "+14155551299"}, True, False),
    ("GET", "/api/v1/contacts/{contact_id}", None, False, True),
    ("PATCH", "/api/v1/contacts/{contact_id}", {"labels": {"a": "b"}}, True, True),
    ("DELETE", "/api/v1/contacts/{contact_id}", None, True, True),
    ("PUT", "/api/v1/contacts/{contact_id}/labels", {"labels": {"a": "b"}}, True, True),
    ("POST", "/api/v1/contacts/{contact_id}/unsubscribe", None, True, True),
    ("POST", "/api/v1/contacts/{contact_id}/resubscribe", None, True, True),
    ("GET", "/api/v1/labels", None, False, False),
    ("GET", "/api/v1/labels/{key}/values", None, False, False),
    ("POST", "/api/v1/labels/{key}/rename", {"new_key": "level"}, True, False),
    ("POST", "/api/v1/labels/{key}/merge", {"values": ["gold"], "into": "Gold"}, True, False),
    ("POST", "/api/v1/labels/{key}/delete", {"value": "gold"}, True, False),
    ("GET", "/api/v1/audiences", None, False, False),
    ("POST", "/api/v1/audiences", {"name": "New"}, True, False),
    ("POST", "/api/v1/audiences/count", {"conditions": "tier = gold"}, False, False),
    ("GET", "/api/v1/audiences/{audience_id}", None, False, True),
    ("PATCH", "/api/v1/audiences/{audience_id}", {"name": "Renamed"}, True, True),
    ("DELETE", "/api/v1/audiences/{audience_id}", None, True, True),
    ("GET", "/api/v1/audiences/{audience_id}/contacts", None, False, True),
    # A GET's body is its query, formatted like the path.
    ("GET", "/api/v1/audiences/{audience_id}/explain", {"contact_id": "{contact_id}"}, False, True),
    ("POST", "/api/v1/audiences/{audience_id}/add-label", {"key": "a", "value": "b"}, True, True),
    ("POST", "/api/v1/audiences/{audience_id}/remove-label", {"key": "a"}, True, True),
    ("POST", "/api/v1/audiences/{audience_id}/freeze", {"name": "Frozen"}, True, True),
    ("POST", "/api/v1/audiences/{audience_id}/members", {"contact_ids": [1]}, True, True),
    ("POST", "/api/v1/audiences/{audience_id}/members/remove", {"contact_ids": [1]}, True, True),
    ("GET", "/api/v1/jobs/{job_id}", None, False, True),
    ("POST", "/api/v1/jobs/{job_id}/undo", {"dry_run": True}, True, True),
    ("POST", "/api/v1/imports", "upload", True, False),
]
CSV = b"phone_number,label_tier\n+14155551299,gold\n"
IDS = [f"{method} {path}" for method, path, *_ in ENDPOINTS]


@pytest.fixture
def objects(account, contact):
    audience = Audience.objects.create(account=account, name="Gold", conditions="tier = gold")
    job = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL, status="succeeded")
    static = Audience.objects.create(account=account, name="Kept", kind=Audience.Kind.STATIC)
    return {
        "static_audience_id": static.pk,
        "list_id": contact.sending_list_id,
        "contact_id": contact.pk,
        "audience_id": audience.pk,
        "job_id": job.pk,
        "key": "tier",
    }


def _call(client: ApiClient, method: str, path: str, body, objects: dict):
    if body == "upload":
        return client.upload(path, {"file": SimpleUploadedFile("c.csv", CSV)})
    if "/members" in path:
        # Only a static audience has members to add or remove.
        objects = {**objects, "audience_id": objects["static_audience_id"]}
    if method == "GET" and body is not None:
        body = {name: value.format(**objects) for name, value in body.items()}
    return client.request(method, path.format(**objects), body)


def test_the_table_lists_every_operation():
    documented = {(method, path) for method, path in operations()}
    assert {(method, path) for method, path, *_ in ENDPOINTS} == documented


@pytest.mark.parametrize(("method", "path", "body", "writes", "names_object"), ENDPOINTS, ids=IDS)
def test_each_endpoint_succeeds_with_a_key(api, objects, method, path, body, writes, names_object):
    response = _call(api, method, path, body, objects)
    assert response.status_code in (200, 201, 202, 204), response.content


@pytest.mark.parametrize(("method", "path", "body", "writes", "names_object"), ENDPOINTS, ids=IDS)
def test_each_endpoint_needs_a_valid_key(
    anonymous_api, api_key, objects, method, path, body, writes, names_object
):
    assert _call(anonymous_api, method, path, body, objects).json()["code"] == "missing_api_key"
    bad = ApiClient("trk_" + "x" * 32)
    assert _call(bad, method, path, body, objects).status_code == 401
    api_key_revoke(api_key=api_key[0])
    revoked = ApiClient(api_key[1])
    response = _call(revoked, method, path, body, objects)
    assert (response.status_code, response.json()["code"]) == (401, "invalid_api_key")


@pytest.mark.parametrize(("method", "path", "body", "writes", "names_object"), ENDPOINTS, ids=IDS)
def test_a_read_only_key_cannot_write(
    read_only_api, objects, method, path, body, writes, names_object
):
    response = _call(read_only_api, method, path, body, objects)
    if writes:
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    else:
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "writes", "names_object"),
    [endpoint for endpoint in ENDPOINTS if endpoint[4]],
    ids=[i for i, endpoint in zip(IDS, ENDPOINTS, strict=True) if endpoint[4]],
)
def test_another_accounts_key_finds_nothing(
    other_account, objects, method, path, body, writes, names_object
):
    outsider = ApiClient(api_key_create(account=other_account, name="Theirs")[1])
    response = _call(outsider, method, path, body, objects)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
