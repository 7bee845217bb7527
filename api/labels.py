"""The API's label catalogue: label keys and their values, most used first."""

from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from api.auth import ApiRequest
from api.errors import reported_as
from api.openapi import operation
from audiences import catalogue
from contacts.labels import clean_key

router = Router()


class LabelKeyOut(Schema):
    key: str
    contacts: int = Field(description="Contacts with this key (subscribed or not).")

    model_config = ConfigDict(json_schema_extra={"examples": [{"key": "source", "contacts": 1840}]})


class LabelValueOut(Schema):
    value: str
    contacts: int = Field(description="Contacts with this value of the key.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"value": "facebook", "contacts": 920}]}
    )


class ValuesParams(Schema):
    limit: int = Field(catalogue.TOP_VALUES, ge=1, le=1000, description="At most this many values.")


@router.get(
    "/labels",
    tags=["Labels"],
    **operation(
        {200: list[LabelKeyOut]},
        summary="List label keys",
        description="Every label key in use in the account, in key order, with how many "
        "contacts have it.",
        operation_id="labels_list_keys",
    ),
)
def label_keys(request: ApiRequest):
    return [
        {"key": row.key, "contacts": row.contacts} for row in catalogue.label_keys(request.account)
    ]


@router.get(
    "/labels/{key}/values",
    tags=["Labels"],
    **operation(
        {200: list[LabelValueOut]},
        "invalid_label_key",
        summary="List a key's values",
        description="The values of a label key, most used first, with how many contacts have "
        "each; empty for a key nobody has.",
        operation_id="labels_list_values",
    ),
)
def label_values(request: ApiRequest, key: str, params: Query[ValuesParams]):
    with reported_as("key"):
        key = clean_key(key)
    rows = catalogue.label_values(request.account, key, limit=params.limit)
    return [{"value": row.value, "contacts": row.contacts} for row in rows]
