import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.models import Contact
from tests.api.conftest import ApiClient
from tests.factories import SendingListFactory
from trackly.models import Job

CSV = (
    "phone_number,label_source,label_tier,notes\n"
    "+14155551234,facebook,gold,hello\n"
    "(415) 555-1235,google,,\n"
    "12,google,silver,\n"
)


def _file(content: str | bytes = CSV, name: str = "contacts.csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def _uploads(settings) -> list:
    directory = settings.IMPORT_DIR
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_an_import_starts_a_job_and_imports_the_file(api, api_key, sending_list, settings):
    response = api.upload("imports", {"file": _file()})
    assert response.status_code == 202
    job = Job.objects.get()
    assert response["Location"] == f"/api/v1/jobs/{job.pk}"
    body = response.json()
    # Tests run jobs at once.
    assert (body["id"], body["kind"], body["status"]) == (job.pk, "import", "succeeded")
    result = body["result"]
    assert {key: result[key] for key in ("rows", "created", "rejected", "dry_run")} == {
        "rows": 3,
        "created": 2,
        "rejected": 1,
        "dry_run": False,
    }
    assert (result["ignored_columns"], result["ignored_columns_count"]) == (["notes"], 1)
    assert result["rejected_rows"][0]["row"] == 4
    assert result["list_id"] == sending_list.pk
    assert sorted(Contact.objects.values_list("phone_number", flat=True)) == [
        "+14155551234",
        "+14155551235",
    ]
    assert job.created_by == api_key[0].created_by
    # The finished import deletes its upload.
    assert _uploads(settings) == []


def test_a_header_of_many_columns_makes_a_small_answer(api, sending_list):
    header = ",".join(["phone_number", "label_tier", *(f"extra{n}" for n in range(100_000))])
    response = api.upload("imports", {"file": _file(f"{header}\n+14155551234,gold\n")})
    assert response.status_code == 202
    result = response.json()["result"]
    assert result["ignored_columns_count"] == 100_000
    # Empty columns are counted, not named.
    assert (result["ignored_columns"], result["empty_columns"]) == ([], 100_000)
    assert [column["column"] for column in result["columns"]] == ["phone_number", "label_tier"]
    assert len(response.content) < 3_000
    job = api.get(response["Location"])
    assert job.json()["result"] == result
    assert len(job.content) < 3_000


def test_a_dry_run_changes_nothing(api, sending_list):
    response = api.upload("imports", {"file": _file(), "dry_run": "true"})
    assert response.status_code == 202
    body = response.json()
    assert body["kind"] == "import_preview"
    assert (body["result"]["created"], body["result"]["dry_run"]) == (2, True)
    assert not Contact.objects.exists()


def test_list_id_chooses_the_list_and_several_lists_need_it(api, account, sending_list):
    second = SendingListFactory(account=account, name="Second")
    response = api.upload("imports", {"file": _file()})
    assert response.status_code == 400
    assert response.json()["code"] == "missing_list"
    response = api.upload("imports", {"file": _file(), "list_id": str(second.pk)})
    assert response.status_code == 202
    assert set(Contact.objects.values_list("sending_list_id", flat=True)) == {second.pk}


def test_another_accounts_list_is_not_found(api, sending_list, other_contact, settings):
    response = api.upload("imports", {"file": _file(), "list_id": other_contact.sending_list_id})
    assert response.status_code == 404
    assert not Job.objects.exists()
    assert _uploads(settings) == []


def test_a_file_with_an_unusable_header_is_refused_at_once(api, sending_list, settings):
    response = api.upload("imports", {"file": _file("name,label_tier\nAnn,gold\n")})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_header"
    assert body["details"][0]["field"] == "file"
    assert not Job.objects.exists()
    assert _uploads(settings) == []


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02binary\xff"])
def test_an_empty_or_binary_file_is_invalid_file(api, sending_list, content):
    response = api.upload("imports", {"file": _file(content)})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_file"


def test_without_a_file_is_invalid_request(api, sending_list):
    response = api.upload("imports", {"list_id": str(sending_list.pk)})
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"field": "file", "message": "Choose a CSV file to import.", "code": "invalid_request"}
    ]
    response = api.post("imports", {"file": "phone_number\n+14155551234\n"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("data", "field"), [({"dry_run": "maybe"}, "dry_run"), ({"list_id": "x"}, "list_id")]
)
def test_bad_form_fields_are_named(api, sending_list, data, field, settings):
    response = api.upload("imports", {"file": _file(), **data})
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == field
    assert _uploads(settings) == []


def test_a_file_over_the_import_limit_is_413(api, sending_list, settings):
    settings.IMPORT_MAX_BYTES = 40
    response = api.upload("imports", {"file": _file()})
    assert response.status_code == 413
    message = "The file is too large; the limit is 40 bytes."
    assert response.json() == {
        "error": message,
        "code": "payload_too_large",
        "details": [{"field": "file", "message": message, "code": "payload_too_large"}],
    }
    assert not Job.objects.exists()
    assert _uploads(settings) == []


def test_an_oversized_upload_is_refused_with_the_dashboards_message(
    api, editor_client, sending_list, settings
):
    settings.IMPORT_MAX_BYTES = 40
    dashboard_url = reverse("imports:import_new", args=["acme", sending_list.pk])
    # Found while the file is received, and declared by the body's length before it is read.
    for content in (CSV, CSV * 5000):
        page = editor_client.post(dashboard_url, {"file": _file(content)})
        response = api.upload("imports", {"file": _file(content)})
        assert page.context["error"] == "The file is too large; the limit is 40 bytes."
        assert (response.status_code, response.json()["error"]) == (413, page.context["error"])
    assert not Job.objects.exists()
    assert _uploads(settings) == []


def test_a_malformed_content_length_is_refused_as_on_the_dashboard(
    api, editor_client, sending_list, settings
):
    dashboard_url = reverse("imports:import_new", args=["acme", sending_list.pk])
    page = editor_client.post(dashboard_url, {"file": _file()}, CONTENT_LENGTH="12abc")
    response = api.upload("imports", {"file": _file()}, CONTENT_LENGTH="12abc")
    assert page.context["error"] == "The Content-Length header is not a number of bytes."
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert response.json()["error"] == page.context["error"]
    # The JSON endpoints read the header with the same helper.
    response = api.post("contacts", {"phone_number": "+14155551234"}, CONTENT_LENGTH="-1")
    assert (response.status_code, response.json()["error"]) == (400, page.context["error"])
    assert not Job.objects.exists()
    assert _uploads(settings) == []


def test_the_json_body_limit_does_not_apply_to_imports(api, sending_list, settings):
    settings.API_MAX_BODY_BYTES = 10
    assert api.upload("imports", {"file": _file()}).status_code == 202


def test_a_read_only_key_cannot_import(read_only_api, sending_list, settings):
    response = read_only_api.upload("imports", {"file": _file()})
    assert response.status_code == 403
    assert _uploads(settings) == []


@pytest.mark.parametrize(
    ("key", "status"), [(None, 401), ("trk_" + "x" * 32, 401), ("read-only", 403)]
)
def test_an_upload_refused_to_its_key_is_not_kept(
    key, status, read_only_api, sending_list, settings
):
    client = read_only_api if key == "read-only" else ApiClient(key)
    response = client.upload("imports", {"file": _file(), "list_id": str(sending_list.pk)})
    assert response.status_code == status
    assert not Job.objects.exists()
    assert _uploads(settings) == []


def test_an_upload_refused_for_its_fields_is_not_kept(api, sending_list, settings):
    response = api.upload("imports", {"file": _file(), "list_id": "999999"})
    assert response.status_code == 404
    response = api.upload("imports", {"file": _file("name\nAnn\n")})
    assert response.status_code == 400
    assert _uploads(settings) == []
