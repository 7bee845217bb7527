"""POST /api/v1/imports with a column mapping and a region (docs/import.md)."""

import json

import pytest

from contacts.models import Contact, Label
from tests.api.test_imports import _file, _uploads
from trackly.models import Job

FILE = "Mobile Phone,Company Type,country\n(07) 3187 6375,Retail,\n905-573-0032,B2B,Canada\n"


def test_an_import_takes_a_mapping_and_a_region(api, sending_list):
    mapping = {"labels": {"Company Type": "Company_Type"}}
    response = api.upload(
        "imports", {"file": _file(FILE), "mapping": json.dumps(mapping), "region": "au"}
    )
    assert response.status_code == 202
    result = response.json()["result"]
    assert (result["created"], result["region"], result["mapping"]) == (2, "AU", mapping)
    assert [(c["column"], c["use"], c["key"]) for c in result["columns"]] == [
        ("Mobile Phone", "phone", ""),
        ("Company Type", "label", "Company_Type"),
        ("country", "country", ""),
    ]
    assert Job.objects.get().params["region"] == "AU"
    labels = dict(Label.objects.values_list("contact__phone_number", "value"))
    assert labels == {"+61731876375": "Retail", "+19055730032": "B2B"}


def test_without_a_mapping_the_columns_are_found_and_the_region_is_the_accounts(
    api, account, sending_list
):
    account.default_region = "GB"
    account.save()
    response = api.upload("imports", {"file": _file(FILE), "dry_run": "true"})
    result = response.json()["result"]
    assert (result["region"], result["mapping"], result["created"]) == ("GB", {}, 1)
    assert result["rejected_rows"] == [
        {
            "row": 2,
            "phone": "(07) 3187 6375",
            "code": "invalid_phone",
            "reason": "'(07) 3187 6375' is not a valid phone number (read with region GB).",
        }
    ]
    assert result["other_regions"]["count"] == 1
    assert result["other_regions"]["examples"][0]["valid_in"][0] == "AU"


@pytest.mark.parametrize(
    ("form", "code", "field", "message"),
    [
        ({"mapping": "{"}, "invalid_mapping", "mapping", "mapping: expected a JSON object"),
        (
            {"mapping": '{"phone": "Cell"}'},
            "invalid_mapping",
            "file",
            "The mapping names the column 'Cell', which the file does not have.",
        ),
        (
            {"mapping": '{"labels": {"Company Type": "a b"}}'},
            "invalid_mapping",
            "file",
            "Column 'Company Type': Label key 'a b' may only contain letters, digits, '_' and '-'.",
        ),
        (
            {"mapping": '{"phone": 1}'},
            "invalid_mapping",
            "mapping",
            "mapping.phone: expected a column name.",
        ),
        (
            {"region": "Narnia"},
            "invalid_region",
            "region",
            "Region 'Narnia' is not one phone numbers can be read with: give a two-letter ISO "
            "code such as GB or US.",
        ),
    ],
)
def test_a_bad_mapping_or_region_is_refused_and_nothing_is_kept(
    api, sending_list, settings, form, code, field, message
):
    response = api.upload("imports", {"file": _file(FILE), **form})
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["error"]) == (code, message)
    assert body["details"][0]["field"] == field
    assert not Job.objects.exists()
    assert not Contact.objects.exists()
    assert _uploads(settings) == []


UNNAMED = "phone,,notes,\n4155551234,vip,hi,\n4155551235,,,\n"


def test_an_unnamed_column_is_read_as_a_label_by_its_number(api, sending_list):
    mapping = {"unnamed_labels": {"2": "tier"}}
    response = api.upload("imports", {"file": _file(UNNAMED), "mapping": json.dumps(mapping)})
    assert response.status_code == 202
    result = response.json()["result"]
    assert result["mapping"] == mapping
    assert [(c["column"], c["number"], c["use"], c["key"]) for c in result["columns"]] == [
        ("phone", 1, "phone", ""),
        ("", 2, "label", "tier"),
        ("notes", 3, "ignored", "notes"),
    ]
    assert (result["unnamed_columns"], result["unnamed_empty_columns"]) == (1, 1)
    labels = dict(Label.objects.values_list("contact__phone_number", "value"))
    assert labels == {"+14155551234": "vip"}


def test_without_a_key_an_unnamed_column_is_listed_ignored_and_counted(api, sending_list):
    response = api.upload("imports", {"file": _file(UNNAMED), "dry_run": "true"})
    result = response.json()["result"]
    assert [(c["column"], c["number"], c["use"]) for c in result["columns"]] == [
        ("phone", 1, "phone"),
        ("", 2, "ignored"),
        ("notes", 3, "ignored"),
    ]
    assert (result["unnamed_columns"], result["unnamed_empty_columns"]) == (2, 1)


@pytest.mark.parametrize(
    ("unnamed_labels", "message"),
    [
        ({"2": "a b"}, "Column 2: Label key 'a b' may only contain letters, digits, '_' and '-'."),
        ({"3": "x"}, "Column 3 is named 'notes': map it by its name in mapping.labels."),
        ({"two": "x"}, "mapping.unnamed_labels: expected an object of column numbers (1 for the "
         'first column) and keys, such as {"7": "notes"}.'),
    ],
)  # fmt: skip
def test_an_unnamed_column_mapping_that_does_not_fit_is_invalid_mapping(
    api, sending_list, unnamed_labels, message
):
    mapping = json.dumps({"unnamed_labels": unnamed_labels})
    response = api.upload("imports", {"file": _file(UNNAMED), "mapping": mapping})
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["error"]) == ("invalid_mapping", message)
    assert not Contact.objects.exists()
