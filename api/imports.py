"""The API's CSV imports: the same import pipeline as the dashboard's."""

import json

from django.http import HttpResponse
from django.urls import reverse
from ninja import Router, Status

from api.auth import ApiKeyAuth, ApiRequest
from api.contacts import target_list
from api.errors import ApiError, reported_as
from api.fields import MAX_ID
from api.jobs import JobOut, job_out
from api.openapi import operation
from contacts import importing
from contacts.models import SendingList

router = Router()

_IMPORT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The CSV file: a phone column (`phone_number`, `phone`, "
                        "`Phone Number`, `mobile`, `tel`, ... or the one `mapping.phone` "
                        "names), `label_<key>` columns, optionally a `country` column; UTF-8.",
                    },
                    "mapping": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "description": "JSON: what the file's columns become, by their "
                        "names; anything left out is decided from the header as without a "
                        "mapping. `phone`: the phone column; `fallback`: the column read when "
                        "the phone is empty; `country`: the column of each row's country (ISO "
                        'code, English name or calling code), `""` for none; `labels`: '
                        "`{column: key}`, any column as a label; `unnamed_labels`: "
                        '`{"7": key}`, a column without a name (by its number, 1 for the first) '
                        "as a label; `ignore`: columns not to read (a `label_` column, the "
                        "country column).",
                        "example": '{"phone": "Mobile Phone", "labels": {"Company Type": '
                        '"Company_Type"}, "ignore": ["label_notes"]}',
                    },
                    "region": {
                        "type": "string",
                        "minLength": 2,
                        "maxLength": 2,
                        "description": "The region numbers without a country code are read "
                        "with (ISO 3166 alpha-2), except on rows whose country column names a "
                        "country. Default: the account's.",
                        "example": "GB",
                    },
                    "list_id": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "The sending list. Without it, the account's only "
                        "active list.",
                    },
                    "dry_run": {
                        "type": "boolean",
                        "default": False,
                        "description": "Only report what the import would do; change nothing.",
                    },
                },
                "required": ["file"],
            },
            "examples": {
                "import": {
                    "summary": "A file of contacts with two labels",
                    "value": {
                        "file": "phone_number,label_source,label_tier\n"
                        "+14155551234,facebook,gold\n",
                        "dry_run": "true",
                    },
                },
                "mapped": {
                    "summary": "Another product's export: its columns mapped, UK numbers",
                    "value": {
                        "file": "Mobile Phone,Company Type,country\n"
                        "07700 900123,Retail,\n905-573-0032,Wholesale,Canada\n",
                        "mapping": '{"phone": "Mobile Phone", "labels": {"Company Type": '
                        '"Company_Type"}}',
                        "region": "GB",
                    },
                },
            },
        }
    },
}
_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no", ""}


def _form_list_id(raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        list_id = int(raw)
    except ValueError:
        list_id = 0
    if not 1 <= list_id <= MAX_ID:
        raise ApiError(
            "invalid_request",
            "list_id: expected the id of a sending list",
            details=[{"field": "list_id", "message": "Expected a whole number."}],
        )
    return list_id


def _form_mapping(raw: str | None) -> importing.Mapping:
    if raw is None or not raw.strip():
        return importing.Mapping()
    try:
        given = json.loads(raw)
    except ValueError:
        raise ApiError(
            "invalid_mapping",
            "mapping: expected a JSON object",
            details=[{"field": "mapping", "message": "Expected a JSON object."}],
        ) from None
    with reported_as("mapping"):
        return importing.clean_mapping(given)


def _form_region(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    with reported_as("region"):
        return importing.clean_region(raw)


def _form_dry_run(raw: str | None) -> bool:
    value = (raw or "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise ApiError(
            "invalid_request",
            "dry_run: expected true or false",
            details=[{"field": "dry_run", "message": "Expected true or false."}],
        )
    return value in _TRUE


@router.post(
    "/imports",
    tags=["Imports"],
    auth=ApiKeyAuth(max_body_bytes=None),
    **operation(
        {202: JobOut},
        "invalid_file",
        "invalid_header",
        "invalid_mapping",
        "invalid_region",
        "missing_list",
        "not_found",
        "payload_too_large",
        writes=True,
        summary="Import a CSV file",
        description="Uploads a CSV file into a sending list and starts its import as a "
        "background job, the same import as the dashboard's: new numbers become contacts, "
        "existing contacts get the file's labels merged in, unsubscribed contacts are skipped, "
        "and bad rows are rejected (each with its row number and reason) while the others are "
        "imported. Columns are found from their names (docs/import.md) unless `mapping` says "
        "otherwise; numbers are read with each row's country column, else `region`. With "
        "`dry_run`, the job only counts what would happen. The answer is the "
        "job (its URL is in `Location`): poll `GET /jobs/{id}`; its `result` has the counts, "
        "the rejected rows (the first 10,000; `rejected_rows_truncated` tells when there are "
        "more) and the columns ignored (`ignored_columns`: the names of the first 20; "
        "`ignored_columns_count`: how many, with `unnamed_columns` and `empty_columns` "
        "counted), what each column became (`columns`), and `other_regions`: the numbers "
        "written without a country code that look like numbers of another region, with "
        "examples. A file whose header is unusable, or a mapping that does not fit it, is "
        "refused at once.",
        openapi_extra={"requestBody": _IMPORT_BODY},
        operation_id="imports_create",
    ),
)
def import_create(request: ApiRequest, response: HttpResponse):
    # The form's fields are checked once the file is received, before it is stored.
    def read_form() -> tuple[SendingList, bool, importing.Mapping, str | None]:
        list_id = _form_list_id(request.POST.get("list_id"))
        return (
            target_list(request.account, list_id),
            _form_dry_run(request.POST.get("dry_run")),
            _form_mapping(request.POST.get("mapping")),
            _form_region(request.POST.get("region")),
        )

    with reported_as("file"):
        upload, (sending_list, dry_run, mapping, region) = importing.receive_upload(
            request, accept=read_form, mapping=lambda form: form[2]
        )
    job = importing.import_start(
        account=request.account,
        user=request.auth.created_by,
        sending_list=sending_list,
        upload=upload.name,
        file_name=upload.file_name,
        dry_run=dry_run,
        mapping=mapping,
        region=region,
    )
    response["Location"] = reverse("api-v1:job_get", args=[job.pk])
    job.refresh_from_db()
    return Status(202, job_out(job))
