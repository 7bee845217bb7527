"""The API's account: its name, phone region and time zone, read by every key and changed by an
admin's key (as on the dashboard's settings page)."""

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Router, Schema
from pydantic import ConfigDict, StringConstraints

from api.auth import ApiRequest
from api.errors import ApiError, reported_as
from api.fields import Text
from api.openapi import operation
from trackly.models import Account, Membership, validate_region, validate_time_zone

router = Router()

AccountName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Text,
]


class AccountOut(Schema):
    name: str
    slug: str = Field(description="The account's short name, in dashboard URLs.")
    default_region: str = Field(
        description="Region (ISO 3166 code) used to read phone numbers written without a "
        "country code."
    )
    time_zone: str = Field(
        description="IANA time zone whose date is 'today' in audience conditions "
        "(`WITHIN LAST n DAYS`, `MORE THAN n DAYS AGO`)."
    )
    created_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Acme",
                    "slug": "acme",
                    "default_region": "GB",
                    "time_zone": "Europe/London",
                    "created_at": "2025-03-01T10:00:00Z",
                }
            ]
        }
    )


class AccountPatch(Schema):
    name: AccountName | None = None
    default_region: str | None = Field(
        None, description="A two-letter region code, in any case (`gb`, `GB`)."
    )
    time_zone: str | None = Field(
        None, description="An IANA time zone name, as written (`Europe/London`, `UTC`)."
    )

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"time_zone": "Europe/London"}]}
    )


def account_out(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "slug": account.slug,
        "default_region": account.default_region,
        "time_zone": account.time_zone,
        "created_at": account.created_at,
    }


def _check_admin_key(request: ApiRequest) -> None:
    """Refuse (`forbidden`) a key whose creator is not an admin of the account now; a key made
    on the command line (no creator) is the operator's and may."""
    creator = request.auth.created_by
    if creator is None:
        return
    membership = Membership.objects.filter(account=request.account, user=creator).first()
    if membership is None or not membership.is_admin:
        if membership is None:
            now = "has left the account"
        else:
            role = membership.get_role_display().lower()
            now = f"is now {'an' if role[0] in 'aeiou' else 'a'} {role}"
        raise ApiError(
            "forbidden",
            f"Only an admin's API key can change the account's settings; this key's creator {now}.",
        )


@router.get(
    "/account",
    tags=["Account"],
    **operation(
        {200: AccountOut},
        summary="Get the account",
        description="The key's account: its name, phone region and time zone.",
        operation_id="account_get",
    ),
)
def account_get(request: ApiRequest):
    return account_out(request.account)


@router.patch(
    "/account",
    tags=["Account"],
    **operation(
        {200: AccountOut},
        "invalid_region",
        "invalid_time_zone",
        body=True,
        writes=True,
        summary="Change the account",
        description="Changes the fields given; the others stay as they are. Only a key made by "
        "an admin of the account (or with `manage.py create_api_key`) may: the settings page's "
        "rule.",
        operation_id="account_update",
    ),
)
def account_patch(request: ApiRequest, payload: AccountPatch):
    _check_admin_key(request)
    account = request.account
    given = {name for name in payload.model_fields_set if getattr(payload, name) is not None}
    if "default_region" in given:
        region = payload.default_region.strip().upper()
        with reported_as("default_region"):
            validate_region(region)
        account.default_region = region
    if "time_zone" in given:
        with reported_as("time_zone"):
            validate_time_zone(payload.time_zone)
        account.time_zone = payload.time_zone
    if "name" in given:
        account.name = payload.name
    if given:
        account.save(update_fields=sorted(given))
    return account_out(account)
