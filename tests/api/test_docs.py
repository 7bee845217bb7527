import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from api.errors import ERRORS
from contacts.labels import KEY_MAX_LENGTH, MAX_LABELS_PER_CONTACT, VALUE_MAX_LENGTH


@pytest.fixture
def schema(anonymous_api, db):
    response = anonymous_api.get("openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_is_described_with_its_errors(schema):
    for name, operation in _operations(schema):
        assert operation.get("summary"), name
        assert operation.get("description"), name
        assert operation.get("tags"), name
        assert operation["security"] == [{"ApiKeyAuth": []}], name
        for status in ("400", "401", "429"):
            assert status in operation["responses"], (name, status)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                examples = response["content"]["application/json"]["examples"]
                codes = re.findall(r"- `(\w+)`", response["description"])
                assert sorted(examples) == sorted(codes), (name, status)
                assert all(ERRORS[code][0] == int(status) for code in codes), (name, status)


def test_writes_document_403_and_bodies_document_413(schema):
    for name, operation in _operations(schema):
        if "requestBody" in operation:
            assert "413" in operation["responses"], name
            (content,) = operation["requestBody"]["content"].values()
            assert content["schema"], name
        if not name.startswith("GET") and name != "POST /api/v1/audiences/count":
            assert "403" in operation["responses"], name


def test_the_import_documents_its_multipart_body(schema):
    body = schema["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"]
    fields = body["multipart/form-data"]["schema"]["properties"]
    assert fields["file"] == {**fields["file"], "type": "string", "format": "binary"}
    assert set(fields) == {"file", "list_id", "dry_run", "mapping", "region"}


def test_request_and_response_bodies_have_examples(schema):
    components = schema["components"]["schemas"]
    for name in (
        "ContactIn",
        "ContactOut",
        "SendingListIn",
        "SendingListOut",
        "AudienceIn",
        "AudienceOut",
        "AudienceDetailOut",
        "CountIn",
        "JobOut",
        "AddLabelIn",
        "RemoveLabelIn",
        "LabelKeyOut",
        "LabelValueOut",
        "LabelsMerge",
        "LabelsReplace",
    ):
        assert components[name].get("examples"), name


def test_the_description_lists_every_error_code(schema):
    description = schema["info"]["description"]
    for code, (status, _, _) in ERRORS.items():
        assert f"`{status} {code}`" in description


def test_the_condition_tree_is_documented(schema):
    components = schema["components"]["schemas"]
    assert {"ConditionTree", "ValueCondition", "ListCondition", "ExistsCondition"} <= set(
        components
    )
    conditions = components["AudienceIn"]["properties"]["conditions"]
    assert {"$ref": "#/components/schemas/ConditionTree"} in conditions["anyOf"]
    assert "x-trackly-ref" not in str(schema)


def test_the_docs_page_uses_only_files_served_here(anonymous_api, db):
    page = anonymous_api.get("docs").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/ninja/swagger-ui-bundle.js" in sources
    for source in sources:
        assert source.startswith("/static/ninja/"), source
        assert finders.find(source.removeprefix("/static/")), source
    # No inline script runs (CSP script-src 'self'); the settings block is JSON data.
    assert re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page) == [
        ' type="application/json" id="swagger-settings"'
    ]


def _text_of(path: str) -> str:
    # Sentences wrap across lines in the Markdown source.
    return " ".join((Path(settings.BASE_DIR) / path).read_text().split())


def test_the_docs_state_the_label_validators_limits():
    api = _text_of("docs/api.md")
    assert (
        f"keys of 1 to {KEY_MAX_LENGTH} letters, digits, `_` and `-` (`invalid_label_key`), "
        f"values of 1 to {VALUE_MAX_LENGTH} characters without control characters "
        f"(`invalid_label_value`), at most {MAX_LABELS_PER_CONTACT} labels per contact"
    ) in api
    assert f"already at {MAX_LABELS_PER_CONTACT} labels without the key" in api
    readme = _text_of("README.md")
    assert (
        f"Keys are 1\N{EN DASH}{KEY_MAX_LENGTH} characters of `A-Z a-z 0-9 _ -`, "
        f"values 1\N{EN DASH}{VALUE_MAX_LENGTH} characters"
    ) in readme
    assert f"A contact has at most {MAX_LABELS_PER_CONTACT} labels" in readme
    conditions = _text_of("docs/conditions.md")
    assert f"(1 to {KEY_MAX_LENGTH} characters of `A-Z a-z 0-9 _ -`); values too (1 to " in (
        conditions
    )
    assert f"values too (1 to {VALUE_MAX_LENGTH}" in conditions
    imports = _text_of("docs/import.md")
    assert f"(1 to {KEY_MAX_LENGTH} characters of `A-Z a-z 0-9 _ -`)" in imports
    assert f"trimmed, 1 to {VALUE_MAX_LENGTH} characters, no control characters" in imports
    assert f"more than {MAX_LABELS_PER_CONTACT} labels is rejected" in imports
