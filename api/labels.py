"""The API's label catalogue: label keys and their values, most used first."""

from django.http import HttpResponse, QueryDict
from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from api.auth import ApiRequest
from api.errors import ERRORS, ApiError, reported_as
from api.openapi import operation
from audiences import catalogue
from contacts.labels import VALUE_MAX_LENGTH, clean_key
from trackly.paging import MAX_CURSOR_LENGTH

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
    q: str = Field(
        "",
        max_length=VALUE_MAX_LENGTH,
        description="Search: the values that start with `q` (as written, in value order), then "
        "those that contain it in any case (in value order).",
    )
    cursor: str = Field(
        "",
        max_length=MAX_CURSOR_LENGTH,
        description="The next page: the `cursor` of the previous answer's `Link` header (or "
        "follow that link as it is).",
    )


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
        "invalid_cursor",
        summary="List a key's values",
        description="The values of a label key, most used first, with how many contacts have "
        "each; empty for a key nobody has. With `q`, the values that match it. When more values "
        'follow, the `Link` header gives the next page (`<...?cursor=...>; rel="next"`), read '
        "from where this one ended at the same speed however far in.",
        operation_id="labels_list_values",
        headers={
            "Link": {
                "description": 'The next page, as `<URL>; rel="next"`; absent on the last page.',
                "schema": {"type": "string"},
            }
        },
    ),
)
def label_values(
    request: ApiRequest, response: HttpResponse, key: str, params: Query[ValuesParams]
):
    with reported_as("key"):
        key = clean_key(key)
    page = catalogue.search_values(
        request.account, key, params.q, limit=params.limit, cursor=params.cursor
    )
    if page.cursor_error:
        raise ApiError(
            "invalid_cursor",
            ERRORS["invalid_cursor"][2],
            details=[{"field": "cursor", "message": "Not a cursor of this search."}],
        )
    if page.next_cursor:
        query = QueryDict(mutable=True)
        query.update({"limit": params.limit, "cursor": page.next_cursor})
        if params.q:
            query["q"] = params.q
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        response["Link"] = f'<{next_url}>; rel="next"'
    return [{"value": row.value, "contacts": row.contacts} for row in page.values]
