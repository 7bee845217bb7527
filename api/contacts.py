"""The API's sending lists, contacts and imports (SPEC §11), on the contacts services."""

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator, ConfigDict, StringConstraints

from api.auth import ApiKeyAuth, ApiRequest
from api.conditions import read_conditions
from api.errors import ApiError, get_or_404, invalid, reported_as
from api.fields import MAX_ID, Id, check_text
from api.jobs import JobOut, job_out
from api.openapi import operation
from api.paging import Page, PageParams, paginate
from audiences.compiler import compile_conditions
from contacts import importing, services
from contacts.import_views import MULTIPART_ALLOWANCE
from contacts.labels import clean_labels
from contacts.models import Contact, Label, SendingList
from contacts.phones import normalize_phone
from trackly.models import Account

router = Router()

_LABEL_ERRORS = ("invalid_label_key", "invalid_label_value", "too_many_labels")

# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------

ListName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(check_text),
]

LABELS_EXAMPLE = {"source": "api", "campaign": "onboarding"}


class SendingListOut(Schema):
    id: int
    name: str
    phone_number: str = Field(description="The sending number, in E.164 form.")
    status: Literal["active", "archived"]
    contact_count: int = Field(description="Subscribed contacts on the list.")
    created_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "name": "Main",
                    "phone_number": "+14155550100",
                    "status": "active",
                    "contact_count": 1840,
                    "created_at": "2025-03-01T10:00:00Z",
                }
            ]
        }
    )


class SendingListPage(Page):
    data: list[SendingListOut]


class SendingListIn(Schema):
    name: ListName = Field(description="Unique in the account.")
    phone_number: str = Field(
        description="The sending number; national numbers are read in the account's region."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Main", "phone_number": "+14155550100"}]},
    )


class ContactOut(Schema):
    id: int
    phone_number: str = Field(description="In E.164 form.")
    list_id: int
    status: Literal["subscribed", "unsubscribed"]
    labels: dict[str, str]
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "phone_number": "+14155551234",
                    "list_id": 3,
                    "status": "subscribed",
                    "labels": LABELS_EXAMPLE,
                    "created_at": "2025-03-01T10:00:00Z",
                    "updated_at": "2025-03-01T10:00:00Z",
                }
            ]
        }
    )


class ContactPage(Page):
    data: list[ContactOut]


class ContactIn(Schema):
    phone_number: str = Field(
        description="Any common format (`(415) 555-1234`, `+1 415 555 1234`...); national "
        "numbers are read in the account's default region. Stored in E.164 form."
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels to set; on an existing contact they are merged into its labels, "
        "these values winning.",
    )
    list_id: Id | None = Field(
        None,
        description="The sending list. Without it, the account's only active list; an account "
        "with several active lists answers `400 missing_list`.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"phone_number": "+14155551234", "labels": LABELS_EXAMPLE},
                {"phone_number": "(415) 555-1234", "labels": {"tier": "gold"}, "list_id": 3},
            ]
        },
    )


class LabelsMerge(Schema):
    labels: dict[str, str | None] = Field(
        description="Keys to set, with their values; a key whose value is null is removed."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"labels": {"tier": "gold", "churned": None}}]},
    )


class LabelsReplace(Schema):
    labels: dict[str, str] = Field(description="The contact's whole label set.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"labels": {"source": "facebook", "tier": "gold"}}]},
    )


class ContactFilters(Schema):
    list_id: Id | None = Field(None, description="Only contacts of this sending list.")
    status: Literal["subscribed", "unsubscribed"] | None = Field(
        None, description="Only subscribed, or only unsubscribed, contacts."
    )
    phone_number: str | None = Field(
        None, description="Only the contact(s) with this number, in any format."
    )
    conditions: str | None = Field(
        None,
        description="Only contacts whose labels match: condition text, or a JSON tree "
        "(a value starting with `{`).",
        examples=["label:tier IN [gold, silver] AND label:churned NOT EXISTS"],
    )


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def contact_out(contact: Contact, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A contact as the API shows it; its labels should be prefetched (`with_labels`) unless
    they are given."""
    if labels is None:
        labels = {label.key: label.value for label in contact.labels.all()}
    return {
        "id": contact.pk,
        "phone_number": contact.phone_number,
        "list_id": contact.sending_list_id,
        "status": contact.status,
        "labels": labels,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


def contacts_out(contacts: list[Contact]) -> list[dict[str, Any]]:
    """A page of contacts as the API shows them, their labels read in one query (as plain
    rows: a page of 1000 contacts has thousands of labels)."""
    labels: dict[int, dict[str, str]] = {contact.pk: {} for contact in contacts}
    rows = (
        Label.objects.filter(contact_id__in=list(labels))
        .order_by("contact_id", "key")
        .values_list("contact_id", "key", "value")
    )
    for contact_id, key, value in rows:
        labels[contact_id][key] = value
    return [contact_out(contact, labels[contact.pk]) for contact in contacts]


def _fresh(contact: Contact, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The contact as stored now; `labels`, when a write just returned them, saves reading them."""
    if labels is None:
        return contact_out(Contact.objects.with_labels().get(pk=contact.pk))
    out = contact_out(Contact.objects.get(pk=contact.pk), labels={})
    return {**out, "labels": dict(sorted(labels.items()))}


def _list_out(sending_list: SendingList) -> dict[str, Any]:
    return {
        "id": sending_list.pk,
        "name": sending_list.name,
        "phone_number": sending_list.phone_number,
        "status": sending_list.status,
        "contact_count": sending_list.contact_count,
        "created_at": sending_list.created_at,
    }


def _get_contact(request: ApiRequest, contact_id: int) -> Contact:
    return get_or_404(Contact.objects.for_account(request.account), contact_id, "contact")


def _get_list(account: Account, list_id: int) -> SendingList:
    lists = SendingList.objects.for_account(account).select_related("account")
    return get_or_404(lists, list_id, "sending list")


# ---------------------------------------------------------------------------------------------
# Sending lists
# ---------------------------------------------------------------------------------------------


@router.get(
    "/lists",
    tags=["Sending lists"],
    **operation(
        {200: SendingListPage},
        summary="List sending lists",
        description="The account's sending lists with their subscribed-contact counts.",
        operation_id="lists_list",
    ),
)
def lists_list(request: ApiRequest, paging: Query[PageParams]):
    lists = SendingList.objects.for_account(request.account).with_contact_count()
    return paginate(lists, paging, _list_out)


@router.post(
    "/lists",
    tags=["Sending lists"],
    **operation(
        {201: SendingListOut},
        "invalid_phone",
        "conflict",
        body=True,
        writes=True,
        summary="Create a sending list",
        description="A new sending list: a name and a sending number, both unique in the account.",
        operation_id="lists_create",
    ),
)
def list_create(request: ApiRequest, payload: SendingListIn):
    lists = SendingList.objects.for_account(request.account)
    with reported_as("phone_number"):
        phone = normalize_phone(payload.phone_number, request.account.default_region)
    if lists.filter(name=payload.name).exists():
        raise ApiError("conflict", f"A sending list named {payload.name!r} already exists.")
    if lists.filter(phone_number=phone).exists():
        raise ApiError("conflict", f"A sending list already sends from {phone}.")
    try:
        with transaction.atomic():
            sending_list = services.sending_list_create(
                account=request.account, name=payload.name, phone_number=phone
            )
    except IntegrityError:
        raise ApiError(
            "conflict", "A sending list with this name or number already exists."
        ) from None
    sending_list.contact_count = 0
    return Status(201, _list_out(sending_list))


@router.get(
    "/lists/{int:list_id}",
    tags=["Sending lists"],
    **operation(
        {200: SendingListOut},
        "not_found",
        summary="Get a sending list",
        description="One sending list with its subscribed-contact count.",
        operation_id="lists_get",
    ),
)
def list_get(request: ApiRequest, list_id: int):
    lists = SendingList.objects.for_account(request.account).with_contact_count()
    return _list_out(get_or_404(lists, list_id, "sending list"))


# ---------------------------------------------------------------------------------------------
# Contacts
# ---------------------------------------------------------------------------------------------


def _target_list(account: Account, list_id: int | None) -> SendingList:
    """The list a new contact goes to: the one given, or the account's only active list."""
    if list_id is not None:
        return _get_list(account, list_id)
    active = list(SendingList.objects.for_account(account).active().select_related("account")[:2])
    if len(active) == 1:
        return active[0]
    if not active:
        message = "This account has no active sending list; create one first."
    else:
        count = SendingList.objects.for_account(account).active().count()
        message = f"This account has {count} active sending lists; say which one with list_id."
    raise ApiError("missing_list", message, details=[{"field": "list_id", "message": message}])


def _upsert(
    sending_list: SendingList, phone: str, labels: dict[str, str]
) -> tuple[Contact, dict[str, str], bool]:
    """Create the contact, or merge `labels` into the existing one; return it, its labels now
    and whether it was created.

    Two requests creating the same number at once: the unique constraint refuses the second
    insert, which then updates the contact the first one made.
    """
    for _ in range(3):
        existing = Contact.objects.filter(sending_list=sending_list, phone_number=phone).first()
        if existing is None:
            try:
                contact = services.contact_create(
                    sending_list=sending_list, phone_number=phone, labels=labels
                )
            except IntegrityError:
                continue
            except ValidationError as error:
                if error.code != "conflict":
                    raise
                continue
            return contact, labels, True
        merged = services.contact_labels_update(contact=existing, labels=labels)
        return existing, merged, False
    raise ApiError("conflict", f"{phone} is being changed by another request; try again.")


@router.post(
    "/contacts",
    tags=["Contacts"],
    **operation(
        {200: ContactOut, 201: ContactOut},
        "invalid_phone",
        *_LABEL_ERRORS,
        "missing_list",
        "not_found",
        "conflict",
        body=True,
        writes=True,
        summary="Create or update a contact",
        description="Adds the number to the sending list (`201`), or, when it is already on "
        "the list, merges the labels into the contact's labels (`200`). An unsubscribed "
        "contact gets the labels but stays unsubscribed.",
        operation_id="contacts_upsert",
    ),
)
def contact_upsert(request: ApiRequest, payload: ContactIn):
    sending_list = _target_list(request.account, payload.list_id)
    with reported_as("phone_number"):
        phone = normalize_phone(payload.phone_number, request.account.default_region)
    with reported_as("labels"):
        labels = clean_labels(payload.labels)
        contact, labels, created = _upsert(sending_list, phone, labels)
    return Status(201 if created else 200, _fresh(contact, labels))


@router.get(
    "/contacts",
    tags=["Contacts"],
    **operation(
        {200: ContactPage},
        "invalid_phone",
        "invalid_conditions",
        "invalid_label_key",
        "invalid_label_value",
        "invalid_cursor",
        "not_found",
        summary="List contacts",
        description="The account's contacts (subscribed or not), in id order, filtered by "
        "list, status, phone number and label conditions.",
        operation_id="contacts_list",
    ),
)
def contacts_list(request: ApiRequest, filters: Query[ContactFilters], paging: Query[PageParams]):
    account = request.account
    contacts = Contact.objects.for_account(account)
    if filters.list_id is not None:
        contacts = contacts.filter(sending_list=_get_list(account, filters.list_id))
    if filters.status is not None:
        contacts = contacts.filter(status=filters.status)
    if filters.phone_number is not None:
        with reported_as("phone_number"):
            phone = normalize_phone(filters.phone_number, account.default_region)
        contacts = contacts.filter(phone_number=phone)
    if filters.conditions is not None:
        tree = read_conditions(_conditions_param(filters.conditions))
        contacts = contacts.filter(compile_conditions(tree, account_id=account.pk))
    return paginate(contacts, paging, serialize_page=contacts_out)


def _conditions_param(text: str) -> object:
    """Conditions from the query string: a JSON tree when it starts with `{` (which no condition
    text can), text otherwise."""
    if not text.lstrip().startswith("{"):
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise ApiError(
            "invalid_conditions",
            "conditions starting with '{' must be a JSON tree, and this is not valid JSON",
            details=[{"field": "conditions", "message": "Not valid JSON."}],
        ) from None


@router.get(
    "/contacts/{int:contact_id}",
    tags=["Contacts"],
    **operation(
        {200: ContactOut},
        "not_found",
        summary="Get a contact",
        description="One contact with all its labels.",
        operation_id="contacts_get",
    ),
)
def contact_get(request: ApiRequest, contact_id: int):
    return _fresh(_get_contact(request, contact_id))


@router.patch(
    "/contacts/{int:contact_id}",
    tags=["Contacts"],
    **operation(
        {200: ContactOut},
        *_LABEL_ERRORS,
        "not_found",
        body=True,
        writes=True,
        summary="Change some labels",
        description="Merges `labels` into the contact's labels: each key is set to its value, "
        "or removed when the value is null. Other labels stay as they are.",
        operation_id="contacts_update_labels",
    ),
)
def contact_patch(request: ApiRequest, contact_id: int, payload: LabelsMerge):
    contact = _get_contact(request, contact_id)
    given = {key: value for key, value in payload.labels.items() if value is not None}
    removed = [key for key, value in payload.labels.items() if value is None]
    with reported_as("labels"):
        labels = services.contact_labels_update(contact=contact, labels=given, remove=removed)
    return _fresh(contact, labels)


@router.put(
    "/contacts/{int:contact_id}/labels",
    tags=["Contacts"],
    **operation(
        {200: ContactOut},
        *_LABEL_ERRORS,
        "not_found",
        body=True,
        writes=True,
        summary="Replace all labels",
        description="Makes `labels` the contact's whole label set; keys not given are removed.",
        operation_id="contacts_replace_labels",
    ),
)
def contact_labels_put(request: ApiRequest, contact_id: int, payload: LabelsReplace):
    contact = _get_contact(request, contact_id)
    with reported_as("labels"):
        labels = services.contact_labels_replace(contact=contact, labels=payload.labels)
    return _fresh(contact, labels)


@router.post(
    "/contacts/{int:contact_id}/unsubscribe",
    tags=["Contacts"],
    **operation(
        {200: ContactOut},
        "not_found",
        writes=True,
        summary="Unsubscribe a contact",
        description="The contact keeps its labels, leaves every audience, and is not "
        "subscribed again by imports or by `POST /contacts`.",
        operation_id="contacts_unsubscribe",
    ),
)
def contact_unsubscribe(request: ApiRequest, contact_id: int):
    contact = _get_contact(request, contact_id)
    services.contact_unsubscribe(contact=contact)
    return _fresh(contact)


@router.post(
    "/contacts/{int:contact_id}/resubscribe",
    tags=["Contacts"],
    **operation(
        {200: ContactOut},
        "not_found",
        writes=True,
        summary="Subscribe a contact again",
        description="The explicit re-subscription of an unsubscribed contact.",
        operation_id="contacts_resubscribe",
    ),
)
def contact_resubscribe(request: ApiRequest, contact_id: int):
    contact = _get_contact(request, contact_id)
    services.contact_resubscribe(contact=contact)
    return _fresh(contact)


@router.delete(
    "/contacts/{int:contact_id}",
    tags=["Contacts"],
    **operation(
        {204: None},
        "not_found",
        writes=True,
        summary="Erase a contact",
        description="Deletes the contact and its labels for good.",
        operation_id="contacts_erase",
    ),
)
def contact_delete(request: ApiRequest, contact_id: int):
    _get_contact(request, contact_id).delete()
    return Status(204, None)


# ---------------------------------------------------------------------------------------------
# Imports
# ---------------------------------------------------------------------------------------------

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


def _too_large() -> ApiError:
    return ApiError("payload_too_large", importing.too_large_error().messages[0])


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
    # The upload is received into a temporary file and stops at the size limit: the handler
    # must be in place before anything reads the body.
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > importing.max_bytes() + MULTIPART_ALLOWANCE:
        raise _too_large()
    handler = importing.UploadHandler(request)
    request.upload_handlers = [handler]
    upload = request.FILES.get("file")
    if handler.too_large:
        raise _too_large()
    if not isinstance(upload, importing.ReceivedUpload):
        message = "Send the CSV file as the multipart/form-data field 'file'."
        raise ApiError("invalid_request", message, details=[{"field": "file", "message": message}])
    # A refused request leaves nothing: the upload is deleted with the request unless kept.
    sending_list = _target_list(request.account, _form_list_id(request.POST.get("list_id")))
    dry_run = _form_dry_run(request.POST.get("dry_run"))
    try:
        importing.check_header(upload.path)
    except ValidationError as error:
        raise invalid(error, "file") from None
    importing.remove_stale_uploads()
    job = importing.import_start(
        account=request.account,
        user=request.auth.created_by,
        sending_list=sending_list,
        upload=upload.keep(),
        file_name=upload.name or "import.csv",
        dry_run=dry_run,
    )
    response["Location"] = reverse("api-v1:job_get", args=[job.pk])
    job.refresh_from_db()
    return Status(202, job_out(job))
