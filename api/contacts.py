"""The API's contacts and their labels, on the contacts services."""

import json
from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from api.auth import ApiRequest
from api.conditions import read_conditions
from api.errors import ApiError, get_or_404, reported_as
from api.fields import Id, labels_schema
from api.lists import get_list
from api.openapi import operation
from api.paging import Page, PageParams, paginate
from audiences.models import conditions_q
from contacts import services
from contacts.labels import clean_labels
from contacts.models import Contact, Label, SendingList
from trackly.models import Account
from trackly.phones import normalize_phone

router = Router()

_LABEL_ERRORS = ("invalid_label_key", "invalid_label_value", "too_many_labels")

# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------

LABELS_EXAMPLE = {"source": "api", "campaign": "onboarding"}


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
        json_schema_extra=labels_schema(),
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
        description="Keys to set, with their values; a key whose value is null is removed.",
        json_schema_extra=labels_schema(removable=True),
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"labels": {"tier": "gold", "churned": None}}]},
    )


class LabelsReplace(Schema):
    labels: dict[str, str] = Field(
        description="The contact's whole label set.", json_schema_extra=labels_schema()
    )

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


def _get_contact(request: ApiRequest, contact_id: int) -> Contact:
    return get_or_404(Contact.objects.for_account(request.account), contact_id, "contact")


# ---------------------------------------------------------------------------------------------
# Contacts
# ---------------------------------------------------------------------------------------------


def target_list(account: Account, list_id: int | None) -> SendingList:
    """The list a new contact goes to: the one given, or the account's only active list."""
    if list_id is not None:
        return get_list(account, list_id)
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
    sending_list = target_list(request.account, payload.list_id)
    with reported_as("phone_number"):
        phone = normalize_phone(payload.phone_number, request.account.default_region)
    with reported_as("labels"):
        labels = clean_labels(payload.labels)
        contact, labels, created = _upsert(sending_list, phone, labels)
    if created:
        # Made by this request and returned as stored: nothing to read back.
        out = contact_out(contact, labels={})
        return Status(201, {**out, "labels": dict(sorted(labels.items()))})
    return Status(200, _fresh(contact, labels))


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
        contacts = contacts.filter(sending_list=get_list(account, filters.list_id))
    if filters.status is not None:
        contacts = contacts.filter(status=filters.status)
    if filters.phone_number is not None:
        with reported_as("phone_number"):
            phone = normalize_phone(filters.phone_number, account.default_region)
        contacts = contacts.filter(phone_number=phone)
    if filters.conditions is not None:
        tree = read_conditions(_conditions_param(filters.conditions), account=account)
        contacts = contacts.filter(conditions_q(account, tree))
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
