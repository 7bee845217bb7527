"""The OpenAPI document at /api/v1/openapi.json: valid OpenAPI 3.1, and every operation named
`<resource>_<action>` once, so that generated clients get stable, readable function names."""

import re

import pytest
from django.test import Client
from openapi_spec_validator import validate

# An operation's resource: the first segment of its path (`/api/v1/audiences/...`).
_RESOURCE = re.compile(r"^/api/v1/([a-z]+)")
_OPERATION_ID = re.compile(r"^([a-z]+)_[a-z]+(_[a-z]+)*$")


@pytest.fixture
def document():
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def operation_ids(document) -> list[tuple[str, str, str]]:
    return [
        (method.upper(), path, operation["operationId"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_parameter_examples_are_a_map_of_example_objects(document):
    parameter = next(
        parameter
        for parameter in document["paths"]["/api/v1/contacts"]["get"]["parameters"]
        if parameter["name"] == "conditions"
    )
    assert parameter["examples"] == {
        "example_1": {"value": "label:tier IN [gold, silver] AND label:churned NOT EXISTS"}
    }


def test_every_operation_id_is_unique(document):
    ids = [operation_id for _, _, operation_id in operation_ids(document)]
    assert len(ids) == 24
    assert sorted(ids) == sorted(set(ids))


def test_every_operation_id_names_its_resource_then_its_action(document):
    wrong = [
        (method, path, operation_id)
        for method, path, operation_id in operation_ids(document)
        if not (match := _OPERATION_ID.match(operation_id))
        or match.group(1) != _RESOURCE.match(path).group(1)
    ]
    assert wrong == []


# Clients are generated with these names: changing one breaks them.
PUBLISHED_IDS = {
    ("GET", "/api/v1/audiences"): "audiences_list",
    ("POST", "/api/v1/audiences"): "audiences_create",
    ("POST", "/api/v1/audiences/count"): "audiences_count",
    ("DELETE", "/api/v1/audiences/{audience_id}"): "audiences_delete",
    ("GET", "/api/v1/audiences/{audience_id}"): "audiences_get",
    ("PATCH", "/api/v1/audiences/{audience_id}"): "audiences_update",
    ("POST", "/api/v1/audiences/{audience_id}/add-label"): "audiences_add_label",
    ("GET", "/api/v1/audiences/{audience_id}/contacts"): "audiences_list_contacts",
    ("POST", "/api/v1/audiences/{audience_id}/remove-label"): "audiences_remove_label",
    ("GET", "/api/v1/contacts"): "contacts_list",
    ("POST", "/api/v1/contacts"): "contacts_upsert",
    ("DELETE", "/api/v1/contacts/{contact_id}"): "contacts_erase",
    ("GET", "/api/v1/contacts/{contact_id}"): "contacts_get",
    ("PATCH", "/api/v1/contacts/{contact_id}"): "contacts_update_labels",
    ("PUT", "/api/v1/contacts/{contact_id}/labels"): "contacts_replace_labels",
    ("POST", "/api/v1/contacts/{contact_id}/resubscribe"): "contacts_resubscribe",
    ("POST", "/api/v1/contacts/{contact_id}/unsubscribe"): "contacts_unsubscribe",
    ("POST", "/api/v1/imports"): "imports_create",
    ("GET", "/api/v1/jobs/{job_id}"): "jobs_get",
    ("GET", "/api/v1/labels"): "labels_list_keys",
    ("GET", "/api/v1/labels/{key}/values"): "labels_list_values",
    ("GET", "/api/v1/lists"): "lists_list",
    ("POST", "/api/v1/lists"): "lists_create",
    ("GET", "/api/v1/lists/{list_id}"): "lists_get",
}


def test_operation_ids_are_the_published_names(document):
    ids = {(method, path): operation_id for method, path, operation_id in operation_ids(document)}
    assert ids == PUBLISHED_IDS
