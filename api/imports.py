"""The API's CSV imports: the same import pipeline as the dashboard's."""

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
                        "description": "The CSV file: a `phone_number` (or `phone`, `msisdn`) "
                        "column and one `label_<key>` column per label; UTF-8.",
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
                }
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
        "missing_list",
        "not_found",
        "payload_too_large",
        writes=True,
        summary="Import a CSV file",
        description="Uploads a CSV file into a sending list and starts its import as a "
        "background job, the same import as the dashboard's: new numbers become contacts, "
        "existing contacts get the file's labels merged in, unsubscribed contacts are skipped, "
        "and bad rows are rejected (each with its row number and reason) while the others are "
        "imported. With `dry_run`, the job only counts what would happen. The answer is the "
        "job (its URL is in `Location`): poll `GET /jobs/{id}`; its `result` has the counts, "
        "the rejected rows (the first 10,000; `rejected_rows_truncated` tells when there are "
        "more) and the columns ignored (`ignored_columns`: the names of the first 20; "
        "`ignored_columns_count`: how many). A file whose header is unusable is refused at "
        "once.",
        openapi_extra={"requestBody": _IMPORT_BODY},
        operation_id="imports_create",
    ),
)
def import_create(request: ApiRequest, response: HttpResponse):
    # The form's fields are checked once the file is received, before it is stored.
    def read_form() -> tuple[SendingList, bool]:
        list_id = _form_list_id(request.POST.get("list_id"))
        return target_list(request.account, list_id), _form_dry_run(request.POST.get("dry_run"))

    with reported_as("file"):
        upload, (sending_list, dry_run) = importing.receive_upload(request, accept=read_form)
    job = importing.import_start(
        account=request.account,
        user=request.auth.created_by,
        sending_list=sending_list,
        upload=upload.name,
        file_name=upload.file_name,
        dry_run=dry_run,
    )
    response["Location"] = reverse("api-v1:job_get", args=[job.pk])
    job.refresh_from_db()
    return Status(202, job_out(job))
