"""The API's audiences and bulk label actions, on the audiences services."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict, StringConstraints

from api.auth import ApiKeyAuth, ApiRequest
from api.conditions import ConditionsIn, ConditionsTreeOut, conditions_out, read_conditions
from api.contacts import ContactPage, contacts_out
from api.errors import ApiError, get_or_404, invalid, reported_as
from api.fields import LABEL_KEY_SCHEMA, LABEL_VALUE_SCHEMA, Id, MultilineText, Text
from api.jobs import JobOut, job_out
from api.openapi import operation
from api.paging import Page, PageParams, paginate
from audiences import bulk, services
from audiences.conditions import to_text
from audiences.explain import explain_contact
from audiences.models import Audience, count_matching
from audiences.services import audience_selection, label_change_start
from contacts.labels import MAX_LABELS_PER_CONTACT
from contacts.models import Contact, SendingList
from trackly.models import Account
from trackly.phones import normalize_phone

router = Router()

AudienceName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    Text,
]
Description = Annotated[
    str,
    StringConstraints(max_length=10_000),
    MultilineText,
]
ListIds = Annotated[
    list[Id],
    Field(
        max_length=1000,
        description="The sending lists in scope (a union); empty for every list of the account.",
    ),
]

AUDIENCE_EXAMPLE = {
    "id": 7,
    "name": "VIP Winback",
    "description": "VIPs who have not bought for three months.",
    "conditions": "label:ltv_tier = vip AND label:last_purchase_days = 90",
    "conditions_tree": {
        "and": [
            {"key": "ltv_tier", "op": "=", "value": "vip"},
            {"key": "last_purchase_days", "op": "=", "value": "90"},
        ]
    },
    "list_ids": [],
    "status": "active",
    "kind": "dynamic",
    "created_at": "2025-03-01T10:00:00Z",
    "updated_at": "2025-03-01T10:00:00Z",
}

# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------


class AudienceOut(Schema):
    id: int
    name: str
    description: str
    conditions: str = Field(description="The conditions as canonical text; empty for none.")
    conditions_tree: ConditionsTreeOut = Field(
        description="The same conditions as a JSON tree; null for none."
    )
    list_ids: list[int] = Field(description="The lists in scope; empty for every list.")
    status: Literal["active", "archived"]
    kind: Literal["dynamic", "static"] = Field(
        description="`dynamic`: the members are the contacts matching the conditions now. "
        "`static`: a fixed set of contacts (its conditions and lists, if any, are those it was "
        "frozen from)."
    )
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(json_schema_extra={"examples": [AUDIENCE_EXAMPLE]})


class AudienceDetailOut(AudienceOut):
    count: int = Field(description="Members now: subscribed contacts in scope that match.")
    dropped_out: int = Field(
        description="Static: of its contacts when last frozen or changed, how many are not "
        "members now (unsubscribed or erased since). Always 0 for a dynamic audience."
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**AUDIENCE_EXAMPLE, "count": 212, "dropped_out": 0}]}
    )


class AudiencePage(Page):
    data: list[AudienceOut]


class AudienceIn(Schema):
    name: AudienceName = Field(description="Unique in the account.")
    description: Description = ""
    conditions: ConditionsIn = None
    list_ids: ListIds = Field(default_factory=list)
    kind: Literal["dynamic", "static"] = Field(
        "dynamic",
        description="`static` makes an empty static audience (no conditions or lists): add "
        "its members with `POST /audiences/{id}/members`, or freeze a dynamic audience with "
        "`POST /audiences/{id}/freeze` instead.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "VIP Winback",
                    "conditions": "ltv_tier=vip AND last_purchase_days=90",
                },
                {
                    "name": "Promo Candidates",
                    "conditions": {
                        "and": [
                            {"key": "promo_responsive", "op": "=", "value": "true"},
                            {"key": "buyer_status", "op": "=", "value": "once"},
                        ]
                    },
                    "list_ids": [3],
                },
            ]
        },
    )


class AudiencePatch(Schema):
    name: AudienceName | None = None
    description: Description | None = None
    conditions: ConditionsIn = None
    list_ids: ListIds | None = None
    status: Literal["active", "archived"] | None = Field(
        None, description="`archived` hides the audience in the dashboard; `active` restores it."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"conditions": "label:ltv_tier = vip AND label:last_purchase_days = 180"}]
        },
    )


class CountIn(Schema):
    conditions: ConditionsIn = None
    list_ids: ListIds = Field(default_factory=list)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"conditions": "label:tier IN [gold, silver]"},
                {"conditions": {"key": "vip", "op": "EXISTS"}, "list_ids": [3]},
            ]
        },
    )


class CountOut(Schema):
    count: int

    model_config = ConfigDict(json_schema_extra={"examples": [{"count": 212}]})


class AddLabelIn(Schema):
    key: str = Field(
        description="The label key.", examples=["winback_2025"], json_schema_extra=LABEL_KEY_SCHEMA
    )
    value: str = Field(
        description="The value to set.", examples=["sent"], json_schema_extra=LABEL_VALUE_SCHEMA
    )

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"key": "winback", "value": "2025-03"}]}
    )


class RemoveLabelIn(Schema):
    key: str = Field(description="The label key to remove.", json_schema_extra=LABEL_KEY_SCHEMA)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"key": "winback"}]})


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def audience_out(audience: Audience, *, count: int | None = None) -> dict[str, Any]:
    out = {
        "id": audience.pk,
        "name": audience.name,
        "description": audience.description,
        **conditions_out(audience.tree, audience.account),
        "list_ids": sorted(audience.list_ids()),
        "status": audience.status,
        "kind": audience.kind,
        "created_at": audience.created_at,
        "updated_at": audience.updated_at,
    }
    if count is not None:
        out["count"] = count
        out["dropped_out"] = audience.dropped_out(count)
    return out


def _detail(audience: Audience) -> dict[str, Any]:
    return audience_out(audience, count=audience.count_members())


def _get_audience(request: ApiRequest, audience_id: int) -> Audience:
    audiences = (
        Audience.objects.for_account(request.account)
        .select_related("account")
        .prefetch_related("sending_lists")
    )
    return get_or_404(audiences, audience_id, "audience")


def _lists(account: Account, list_ids: list[int]) -> list[SendingList]:
    """The account's lists with these ids, or `not_found` naming the first that is not one."""
    wanted = list(dict.fromkeys(list_ids))
    found = {sl.pk: sl for sl in SendingList.objects.for_account(account).filter(pk__in=wanted)}
    for pk in wanted:
        if pk not in found:
            message = f"No sending list with id {pk}."
            raise ApiError(
                "not_found", message, details=[{"field": "list_ids", "message": message}]
            )
    return [found[pk] for pk in wanted]


@contextmanager
def _name_conflict() -> Iterator[None]:
    """A taken audience name is a plain 409 `conflict`: it concerns the object, not a field."""
    try:
        yield
    except ValidationError as error:
        raise ApiError("conflict", error.messages[0]) from None


# ---------------------------------------------------------------------------------------------
# Audiences
# ---------------------------------------------------------------------------------------------


@router.get(
    "/audiences",
    tags=["Audiences"],
    **operation(
        {200: AudiencePage},
        summary="List audiences",
        description="The account's audiences, in id order (without member counts: get one "
        "audience for its count).",
        operation_id="audiences_list",
    ),
)
def audiences_list(
    request: ApiRequest,
    paging: Query[PageParams],
    status: Literal["active", "archived"] | None = None,
):
    audiences = Audience.objects.for_account(request.account).prefetch_related("sending_lists")
    if status is not None:
        audiences = audiences.filter(status=status)
    return paginate(audiences, paging, audience_out)


@router.post(
    "/audiences",
    tags=["Audiences"],
    **operation(
        {201: AudienceDetailOut},
        "invalid_conditions",
        "invalid_label_key",
        "invalid_label_value",
        "not_found",
        "conflict",
        body=True,
        writes=True,
        summary="Create an audience",
        description="A saved, dynamic segment: its members are evaluated whenever they are "
        "asked for. The answer includes the member count now.",
        operation_id="audiences_create",
    ),
)
def audience_create(request: ApiRequest, payload: AudienceIn):
    tree = read_conditions(payload.conditions, account=request.account)
    lists = _lists(request.account, payload.list_ids)
    if payload.kind == Audience.Kind.STATIC and (tree is not None or lists):
        message = (
            "A static audience is made empty: add members to it, or freeze a dynamic audience "
            "with POST /audiences/{id}/freeze."
        )
        raise ApiError("invalid_request", message, details=[{"field": "kind", "message": message}])
    with _name_conflict():
        services.audience_check_name(account=request.account, name=payload.name)
    audience = Audience(
        account=request.account,
        created_by=request.auth.created_by,
        name=payload.name,
        description=payload.description,
        conditions=to_text(tree),
        kind=payload.kind,
    )
    with _name_conflict():
        services.audience_save(audience=audience, lists=lists)
    return Status(201, _detail(audience))


@router.get(
    "/audiences/{int:audience_id}",
    tags=["Audiences"],
    **operation(
        {200: AudienceDetailOut},
        "not_found",
        summary="Get an audience",
        description="The audience with its member count now.",
        operation_id="audiences_get",
    ),
)
def audience_get(request: ApiRequest, audience_id: int):
    return _detail(_get_audience(request, audience_id))


@router.patch(
    "/audiences/{int:audience_id}",
    tags=["Audiences"],
    **operation(
        {200: AudienceDetailOut},
        "invalid_conditions",
        "invalid_label_key",
        "invalid_label_value",
        "not_found",
        "conflict",
        body=True,
        writes=True,
        summary="Change an audience",
        description="Changes the fields given; the others stay as they are. `conditions: null` "
        "(or empty text) removes the conditions.",
        operation_id="audiences_update",
    ),
)
def audience_patch(request: ApiRequest, audience_id: int, payload: AudiencePatch):
    audience = _get_audience(request, audience_id)
    given = payload.model_fields_set
    lists = None
    if "conditions" in given:
        audience.conditions = to_text(
            read_conditions(payload.conditions, account=request.account, audience=audience)
        )
    if "list_ids" in given:
        lists = _lists(request.account, payload.list_ids or [])
    if "name" in given and payload.name is not None:
        with _name_conflict():
            services.audience_check_name(
                account=request.account, name=payload.name, audience=audience
            )
        audience.name = payload.name
    if "description" in given:
        audience.description = payload.description or ""
    if "status" in given and payload.status is not None:
        if payload.status == Audience.Status.ARCHIVED:
            with _name_conflict():
                services.audience_check_unused(audience=audience, doing="archived")
        audience.status = payload.status
    with _name_conflict():
        services.audience_save(audience=audience, lists=lists)
    return _detail(_get_audience(request, audience.pk))


@router.delete(
    "/audiences/{int:audience_id}",
    tags=["Audiences"],
    **operation(
        {204: None},
        "not_found",
        writes=True,
        summary="Delete an audience",
        description="Deletes the saved audience; its contacts and their labels stay, and the "
        "audit log keeps its bulk label changes. An audience that other audiences use with "
        "IN AUDIENCE cannot be deleted (`conflict`, naming them).",
        operation_id="audiences_delete",
    ),
)
def audience_delete(request: ApiRequest, audience_id: int):
    with _name_conflict():
        services.audience_delete(audience=_get_audience(request, audience_id))
    return Status(204, None)


@router.get(
    "/audiences/{int:audience_id}/contacts",
    tags=["Audiences"],
    **operation(
        {200: ContactPage},
        "not_found",
        "invalid_cursor",
        summary="List an audience's members",
        description="The subscribed contacts in scope whose labels match now, in id order.",
        operation_id="audiences_list_contacts",
    ),
)
def audience_contacts(request: ApiRequest, audience_id: int, paging: Query[PageParams]):
    audience = _get_audience(request, audience_id)
    return paginate(audience.members(), paging, serialize_page=contacts_out)


EXPLAIN_EXAMPLE = {
    "audience_id": 7,
    "contact_id": 42,
    "member": False,
    "checks": [
        {"check": "subscribed", "passed": True, "reason": "subscribed"},
        {
            "check": "in_scope",
            "passed": True,
            "reason": "on `Main`; the audience takes every list",
        },
    ],
    "conditions_matched": False,
    "conditions": {
        "kind": "and",
        "text": "label:ltv_tier = vip AND label:churned NOT EXISTS",
        "matched": False,
        "reason": "1 condition of 2 false",
        "condition": {
            "and": [
                {"key": "ltv_tier", "op": "=", "value": "vip"},
                {"key": "churned", "op": "NOT EXISTS"},
            ]
        },
        "children": [
            {
                "kind": "condition",
                "text": "label:ltv_tier = vip",
                "matched": False,
                "reason": "`ltv_tier` is `standard`, not `vip`",
                "condition": {"key": "ltv_tier", "op": "=", "value": "vip"},
                "children": [],
            },
            {
                "kind": "condition",
                "text": "label:churned NOT EXISTS",
                "matched": True,
                "reason": "has no `churned` label",
                "condition": {"key": "churned", "op": "NOT EXISTS"},
                "children": [],
            },
        ],
    },
}


class ExplainStepOut(Schema):
    kind: str = Field(
        description="`condition`, `audience` (IN AUDIENCE), `and`, `or` or `not` (other kinds "
        "may be added later)."
    )
    text: str = Field(description="This part of the conditions as canonical text.")
    matched: bool = Field(description="Whether the contact passes this part.")
    reason: str = Field(description="Why, in words; keys and values are in backticks.")
    condition: ConditionsTreeOut = Field(description="This part as a JSON tree.")
    children: list["ExplainStepOut"] = Field(description="The parts of a group or NOT.")


class ExplainCheckOut(Schema):
    check: Literal["subscribed", "in_scope"]
    passed: bool
    reason: str


class ExplainOut(Schema):
    audience_id: int
    contact_id: int
    member: bool = Field(
        description="Whether the contact is a member now: every check passed and the "
        "conditions matched."
    )
    checks: list[ExplainCheckOut] = Field(
        description="The audience's tests besides its conditions: subscribed, on a list in scope."
    )
    conditions_matched: bool = Field(description="True also when the audience has no conditions.")
    conditions: ExplainStepOut | None = Field(
        description="The conditions as a tree, each part marked; null for no conditions."
    )

    model_config = ConfigDict(json_schema_extra={"examples": [EXPLAIN_EXAMPLE]})


ExplainStepOut.model_rebuild()


@router.get(
    "/audiences/{int:audience_id}/explain",
    tags=["Audiences"],
    **operation(
        {200: ExplainOut},
        "not_found",
        summary="Explain a contact's membership",
        description="Whether the contact is in the audience now, and why: the subscription "
        "and list checks, and the conditions as a tree with each part true or false for "
        "this contact and the reason.",
        operation_id="audiences_explain",
    ),
)
def audience_explain(request: ApiRequest, audience_id: int, contact_id: Query[Id]):
    audience = _get_audience(request, audience_id)
    contact = get_or_404(Contact.objects.for_account(request.account), contact_id, "contact")
    explanation = explain_contact(audience, contact)
    return {"audience_id": audience.pk, "contact_id": contact.pk, **explanation.as_json()}


@router.post(
    "/audiences/count",
    tags=["Audiences"],
    auth=ApiKeyAuth(writes=False),
    **operation(
        {200: CountOut},
        "invalid_conditions",
        "invalid_label_key",
        "invalid_label_value",
        "not_found",
        body=True,
        summary="Count an audience without saving it",
        description="How many subscribed contacts in scope match these conditions now. "
        "Nothing is saved; read-only keys may call it.",
        operation_id="audiences_count",
    ),
)
def audience_count(request: ApiRequest, payload: CountIn):
    tree = read_conditions(payload.conditions, account=request.account)
    lists = _lists(request.account, payload.list_ids)
    count = count_matching(request.account, tree, [sl.pk for sl in lists])
    return {"count": count}


# ---------------------------------------------------------------------------------------------
# Bulk label actions
# ---------------------------------------------------------------------------------------------


def _start_label_change(
    request: ApiRequest, response: HttpResponse, audience: Audience, action: str, key, value
):
    try:
        key, value = bulk.clean_action(action, key, value)
    except ValidationError as error:
        raise invalid(error, "key" if error.code == "invalid_label_key" else "value") from None
    change = label_change_start(
        account=request.account,
        user=request.auth.created_by,
        action=action,
        key=key,
        value=value,
        audience=audience,
        target=audience.name,
        selection=audience_selection(audience),
    )
    response["Location"] = reverse("api-v1:job_get", args=[change.job_id])
    change.job.refresh_from_db()
    return Status(202, job_out(change.job))


_BULK_DESCRIPTION = (
    " to every contact that matches the audience now: a one-time change, not a rule for "
    "later members. It runs as a background job, recorded in the audit log; the answer is the "
    "job (its URL is in `Location`): poll `GET /jobs/{id}` for its progress and counts."
)


@router.post(
    "/audiences/{int:audience_id}/add-label",
    tags=["Bulk label actions"],
    **operation(
        {202: JobOut},
        "invalid_label_key",
        "invalid_label_value",
        "not_found",
        body=True,
        writes=True,
        summary="Add a label to an audience's members",
        description="Sets the label `key` to `value`" + _BULK_DESCRIPTION + " Contacts already "
        f"at {MAX_LABELS_PER_CONTACT} labels without this key are skipped.",
        operation_id="audiences_add_label",
    ),
)
def audience_add_label(
    request: ApiRequest, response: HttpResponse, audience_id: int, payload: AddLabelIn
):
    audience = _get_audience(request, audience_id)
    return _start_label_change(request, response, audience, bulk.ADD, payload.key, payload.value)


@router.post(
    "/audiences/{int:audience_id}/remove-label",
    tags=["Bulk label actions"],
    **operation(
        {202: JobOut},
        "invalid_label_key",
        "not_found",
        body=True,
        writes=True,
        summary="Remove a label from an audience's members",
        description="Removes the label `key`" + _BULK_DESCRIPTION,
        operation_id="audiences_remove_label",
    ),
)
def audience_remove_label(
    request: ApiRequest, response: HttpResponse, audience_id: int, payload: RemoveLabelIn
):
    audience = _get_audience(request, audience_id)
    return _start_label_change(request, response, audience, bulk.REMOVE, payload.key, "")


# ---------------------------------------------------------------------------------------------
# Static audiences
# ---------------------------------------------------------------------------------------------

MAX_MEMBERS_PER_REQUEST = 1000


class MembersIn(Schema):
    contact_ids: list[Id] = Field(
        default_factory=list,
        max_length=MAX_MEMBERS_PER_REQUEST,
        description="Contacts by id; ids of no contact of the account are counted as not found.",
    )
    phone_numbers: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list,
        max_length=MAX_MEMBERS_PER_REQUEST,
        description="Contacts by phone number (read in the account's region), on every list "
        "the number is on.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"contact_ids": [12, 13]}, {"phone_numbers": ["+14155550100"]}]
        },
    )


class MembersAddedOut(Schema):
    added: int = Field(description="Contacts that became members (subscribed, not already in).")
    not_found: int = Field(description="Ids and numbers of no contact of the account.")
    not_found_examples: list[str] = Field(description="A few of them.")
    invalid: int = Field(description="Phone numbers that are not valid numbers.")
    invalid_examples: list[str]
    count: int = Field(description="Members now.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "added": 2,
                    "not_found": 1,
                    "not_found_examples": ["+14155550199"],
                    "invalid": 0,
                    "invalid_examples": [],
                    "count": 14,
                }
            ]
        }
    )


class MembersRemovedOut(Schema):
    removed: int = Field(description="Contacts taken out of the audience.")
    count: int = Field(description="Members now.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"removed": 1, "count": 13}]})


class FreezeIn(Schema):
    name: AudienceName = Field(description="The new static audience's name, unique.")
    description: Description = ""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "VIP Winback, March"}]}
    )


class FreezeOut(Schema):
    audience: AudienceOut
    job: JobOut

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"audience": {**AUDIENCE_EXAMPLE, "kind": "static"}}]}
    )


def _get_static(request: ApiRequest, audience_id: int) -> Audience:
    audience = _get_audience(request, audience_id)
    if not audience.is_static:
        raise ApiError(
            "conflict",
            f"The audience {audience.pk} is dynamic: its members are the contacts matching its "
            "conditions; only a static audience has members to add or remove.",
        )
    return audience


def _ids_and_phones(request: ApiRequest, payload: MembersIn):
    """The account's contacts with the given ids, and the ids of no contact."""
    contacts = Contact.objects.for_account(request.account).filter(pk__in=payload.contact_ids)
    found = set(contacts.values_list("pk", flat=True))
    missing = [str(pk) for pk in dict.fromkeys(payload.contact_ids) if pk not in found]
    return contacts, missing


@router.post(
    "/audiences/{int:audience_id}/members",
    tags=["Audiences"],
    **operation(
        {200: MembersAddedOut},
        "not_found",
        "conflict",
        body=True,
        writes=True,
        summary="Add members to a static audience",
        description="Adds contacts by id and by phone number (at most "
        f"{MAX_MEMBERS_PER_REQUEST} of each). Unsubscribed contacts are not added. A dynamic "
        "audience answers `conflict`.",
        operation_id="audiences_add_members",
    ),
)
def audience_add_members(request: ApiRequest, audience_id: int, payload: MembersIn):
    audience = _get_static(request, audience_id)
    contacts, missing = _ids_and_phones(request, payload)
    with transaction.atomic():
        added = services.static_members_add(audience=audience, contacts=contacts)
        phones = services.static_members_add_phones(audience=audience, phones=payload.phone_numbers)
    examples = (missing + phones.not_found_examples)[: services.PHONE_EXAMPLES]
    return {
        "added": added + phones.added,
        "not_found": len(missing) + phones.not_found,
        "not_found_examples": examples,
        "invalid": phones.invalid,
        "invalid_examples": phones.invalid_examples,
        "count": audience.count_members(),
    }


@router.post(
    "/audiences/{int:audience_id}/members/remove",
    tags=["Audiences"],
    **operation(
        {200: MembersRemovedOut},
        "not_found",
        "conflict",
        "invalid_phone",
        body=True,
        writes=True,
        summary="Remove members from a static audience",
        description="Takes contacts out by id and by phone number. A dynamic audience answers "
        "`conflict`.",
        operation_id="audiences_remove_members",
    ),
)
def audience_remove_members(request: ApiRequest, audience_id: int, payload: MembersIn):
    audience = _get_static(request, audience_id)
    contacts, _ = _ids_and_phones(request, payload)
    phones = []
    for index, raw in enumerate(payload.phone_numbers):
        with reported_as(f"phone_numbers.{index}"):
            phones.append(normalize_phone(raw, request.account.default_region))
    by_phone = Contact.objects.for_account(request.account).filter(phone_number__in=phones)
    removed = services.static_members_remove(
        audience=audience, contacts=contacts.union(by_phone) if phones else contacts
    )
    return {"removed": removed, "count": audience.count_members()}


@router.post(
    "/audiences/{int:audience_id}/freeze",
    tags=["Audiences"],
    **operation(
        {202: FreezeOut},
        "not_found",
        "conflict",
        body=True,
        writes=True,
        summary="Save a dynamic audience as static",
        description="Makes a new static audience of the audience's members, frozen by a job "
        "(poll `GET /jobs/{id}`); it keeps the conditions and lists it was frozen from.",
        operation_id="audiences_freeze",
    ),
)
def audience_freeze(request: ApiRequest, audience_id: int, payload: FreezeIn):
    audience = _get_audience(request, audience_id)
    if audience.is_static:
        raise ApiError("conflict", f"The audience {audience.pk} is static already.")
    with _name_conflict():
        static = services.static_audience_create(
            account=request.account,
            user=request.auth.created_by,
            name=payload.name,
            description=payload.description,
            frozen_from=audience,
        )
    job = services.static_fill_start(
        audience=static,
        user=request.auth.created_by,
        selection=services.static_refresh_selection(static),
        replace=True,
    )
    job.refresh_from_db()
    return Status(202, {"audience": audience_out(static), "job": job_out(job)})
