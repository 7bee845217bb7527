"""The API's sending lists."""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict, StringConstraints

from api.auth import ApiRequest
from api.errors import ApiError, get_or_404, reported_as
from api.fields import Text
from api.openapi import operation
from api.paging import Page, PageParams, paginate
from contacts import services
from contacts.models import SendingList
from trackly.models import Account
from trackly.phones import normalize_phone

router = Router()

ListName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Text,
]


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


def list_out(sending_list: SendingList) -> dict[str, Any]:
    return {
        "id": sending_list.pk,
        "name": sending_list.name,
        "phone_number": sending_list.phone_number,
        "status": sending_list.status,
        "contact_count": sending_list.contact_count,
        "created_at": sending_list.created_at,
    }


def get_list(account: Account, list_id: int) -> SendingList:
    """The account's sending list `list_id`, or `not_found`."""
    lists = SendingList.objects.for_account(account).select_related("account")
    return get_or_404(lists, list_id, "sending list")


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
    return paginate(lists, paging, list_out)


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
    with reported_as("phone_number"):
        phone = normalize_phone(payload.phone_number, request.account.default_region)
    try:
        sending_list = services.sending_list_create(
            account=request.account, name=payload.name, phone_number=phone
        )
    except ValidationError as error:
        # A taken name or number is a plain 409 `conflict`, as for audiences.
        raise ApiError("conflict", error.messages[0]) from None
    sending_list.contact_count = 0
    return Status(201, list_out(sending_list))


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
    return list_out(get_or_404(lists, list_id, "sending list"))
