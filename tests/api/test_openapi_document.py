"""The OpenAPI document at /api/v1/openapi.json: valid OpenAPI 3.1, and every operation named
`<resource>_<action>` once, so that generated clients get stable, readable function names."""

import re

import pytest
from django.test import Client
from openapi_spec_validator import validate

from audiences.conditions import MAX_CONDITIONS, MAX_LIST_VALUES
from contacts.labels import KEY_MAX_LENGTH, MAX_LABELS_PER_CONTACT, VALUE_MAX_LENGTH

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
    assert len(ids) == 34
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
    ("GET", "/api/v1/account"): "account_get",
    ("PATCH", "/api/v1/account"): "account_update",
    ("GET", "/api/v1/audiences"): "audiences_list",
    ("POST", "/api/v1/audiences"): "audiences_create",
    ("POST", "/api/v1/audiences/count"): "audiences_count",
    ("DELETE", "/api/v1/audiences/{audience_id}"): "audiences_delete",
    ("GET", "/api/v1/audiences/{audience_id}"): "audiences_get",
    ("PATCH", "/api/v1/audiences/{audience_id}"): "audiences_update",
    ("POST", "/api/v1/audiences/{audience_id}/add-label"): "audiences_add_label",
    ("GET", "/api/v1/audiences/{audience_id}/contacts"): "audiences_list_contacts",
    ("GET", "/api/v1/audiences/{audience_id}/explain"): "audiences_explain",
    ("POST", "/api/v1/audiences/{audience_id}/remove-label"): "audiences_remove_label",
    ("POST", "/api/v1/audiences/{audience_id}/freeze"): "audiences_freeze",
    ("POST", "/api/v1/audiences/{audience_id}/members"): "audiences_add_members",
    ("POST", "/api/v1/audiences/{audience_id}/members/remove"): "audiences_remove_members",
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
    ("POST", "/api/v1/jobs/{job_id}/undo"): "jobs_undo",
    ("GET", "/api/v1/labels"): "labels_list_keys",
    ("POST", "/api/v1/labels/{key}/delete"): "labels_delete",
    ("POST", "/api/v1/labels/{key}/merge"): "labels_merge_values",
    ("POST", "/api/v1/labels/{key}/rename"): "labels_rename_key",
    ("GET", "/api/v1/labels/{key}/values"): "labels_list_values",
    ("GET", "/api/v1/lists"): "lists_list",
    ("POST", "/api/v1/lists"): "lists_create",
    ("GET", "/api/v1/lists/{list_id}"): "lists_get",
}


def test_operation_ids_are_the_published_names(document):
    ids = {(method, path): operation_id for method, path, operation_id in operation_ids(document)}
    assert ids == PUBLISHED_IDS


def test_label_limits_in_the_document_are_the_label_validators(document):
    schemas = document["components"]["schemas"]
    key = {
        "type": "string",
        "pattern": f"^[A-Za-z0-9_-]{{1,{KEY_MAX_LENGTH}}}$",
        "minLength": 1,
        "maxLength": KEY_MAX_LENGTH,
    }
    value = {"type": "string", "minLength": 1, "maxLength": VALUE_MAX_LENGTH}
    for name in ("ContactIn", "LabelsReplace"):
        labels = schemas[name]["properties"]["labels"]
        assert labels["propertyNames"] == key, name
        assert labels["additionalProperties"] == value, name
        assert labels["maxProperties"] == MAX_LABELS_PER_CONTACT, name
    merge = schemas["LabelsMerge"]["properties"]["labels"]
    assert merge["propertyNames"] == key
    assert merge["additionalProperties"] == {"anyOf": [value, {"type": "null"}]}
    for name in ("AddLabelIn", "RemoveLabelIn", "ValueCondition", "ListCondition"):
        field = schemas[name]["properties"]["key"]
        assert (field["pattern"], field["maxLength"]) == (key["pattern"], KEY_MAX_LENGTH), name
    assert schemas["AddLabelIn"]["properties"]["value"]["maxLength"] == VALUE_MAX_LENGTH
    assert schemas["ValueCondition"]["properties"]["value"]["maxLength"] == VALUE_MAX_LENGTH
    values = schemas["ListCondition"]["properties"]["values"]
    assert (values["items"]["maxLength"], values["maxItems"]) == (
        VALUE_MAX_LENGTH,
        MAX_LIST_VALUES,
    )
    assert schemas["AllConditions"]["properties"]["and"]["maxItems"] == MAX_CONDITIONS


def test_label_limits_in_the_error_catalogue_are_the_label_validators(document):
    description = document["info"]["description"]
    assert f"longer than {KEY_MAX_LENGTH} characters" in description
    assert f"longer than {VALUE_MAX_LENGTH} characters" in description
    assert f"more than {MAX_LABELS_PER_CONTACT} labels" in description
