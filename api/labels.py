"""The API's label catalogue: label keys and their values, most used first; renaming a key,
merging values and deleting a value or a key across the account (`audiences.hygiene`)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse, QueryDict
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict, StrictBool

from api.auth import ApiRequest
from api.errors import ERRORS, ApiError, invalid, reported_as
from api.fields import LABEL_KEY_SCHEMA, LABEL_VALUE_SCHEMA
from api.jobs import JobOut, job_out
from api.openapi import operation
from audiences import catalogue, hygiene, services
from audiences.models import LabelChange
from contacts.labels import MAX_LABELS_PER_CONTACT, VALUE_MAX_LENGTH, clean_key
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


# ---------------------------------------------------------------------------------------------
# Renaming, merging, deleting
# ---------------------------------------------------------------------------------------------


class RenameIn(Schema):
    new_key: str = Field(description="The key's new name.", json_schema_extra=LABEL_KEY_SCHEMA)
    rewrite_audiences: StrictBool = Field(
        False, description="Also rewrite the saved audiences whose conditions name the key."
    )
    dry_run: StrictBool = Field(False, description="Only review: count what it would do.")

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"new_key": "source", "dry_run": True}]}
    )


class MergeIn(Schema):
    values: list[str] = Field(
        min_length=1, max_length=1000, description="The values to merge into `into`."
    )
    into: str = Field(description="The value they become.", json_schema_extra=LABEL_VALUE_SCHEMA)
    rewrite_audiences: StrictBool = Field(
        False, description="Also rewrite the saved audiences whose conditions name the values."
    )
    dry_run: StrictBool = Field(False, description="Only review: count what it would do.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"values": ["Facebook", "FB"], "into": "facebook"}]},
    )


class DeleteIn(Schema):
    value: str | None = Field(
        None,
        description="Delete only this value of the key; null or absent deletes the whole key.",
        json_schema_extra=LABEL_VALUE_SCHEMA,
    )
    dry_run: StrictBool = Field(False, description="Only review: count what it would do.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"value": "FB"}]})


class NamingAudienceOut(Schema):
    id: int
    name: str
    conditions: str
    rewritten_conditions: str | None = Field(
        description="The conditions as a rename or merge rewrites them; null for a delete."
    )


class EditReviewOut(Schema):
    contacts: int = Field(description="Contacts whose labels change.")
    kept_target: int = Field(
        description="For a rename: contacts that already have the new key; its value stays and "
        "the old key is removed."
    )
    skipped: int = Field(
        description=f"Contacts that would pass {MAX_LABELS_PER_CONTACT} labels (skipped)."
    )
    audiences: list[NamingAudienceOut] = Field(
        description="Saved audiences whose conditions name the key or values."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"contacts": 920, "kept_target": 3, "skipped": 0, "audiences": []}]
        }
    )


_EDIT_DESCRIPTION = (
    " across every contact of the account. With `dry_run` the answer is the review (exact "
    "counts, and the saved audiences naming what changes) and nothing changes; otherwise it "
    "runs as a background job recorded in the audit log, which can be undone "
    "(`POST /jobs/{id}/undo`): the answer is the job (its URL is in `Location`)."
)


def _run_edit(
    request: ApiRequest, response: HttpResponse, *, dry_run: bool, rewrite: bool, **given
):
    try:
        edit = hygiene.clean_edit(**given)
    except ValidationError as error:
        raise invalid(error) from None
    naming = hygiene.naming_audiences(request.account, edit)
    if dry_run:
        counts = hygiene.edit_review(request.account, edit)
        return Status(200, {**counts.__dict__, "audiences": [_audience_out(a) for a in naming]})
    change = services.label_edit_start(
        account=request.account,
        user=request.auth.created_by,
        edit=edit,
        audience_ids=[a.id for a in naming] if rewrite else [],
    )
    response["Location"] = reverse("api-v1:job_get", args=[change.job_id])
    change.job.refresh_from_db()
    return Status(202, job_out(change.job))


def _audience_out(found: hygiene.NamingAudience) -> dict[str, Any]:
    return {
        "id": found.id,
        "name": found.name,
        "conditions": found.conditions,
        "rewritten_conditions": found.rewritten,
    }


@router.post(
    "/labels/{key}/rename",
    tags=["Labels"],
    **operation(
        {200: EditReviewOut, 202: JobOut},
        "invalid_label_key",
        body=True,
        writes=True,
        summary="Rename a label key",
        description="Renames the key to `new_key`" + _EDIT_DESCRIPTION,
        operation_id="labels_rename_key",
    ),
)
def label_rename(request: ApiRequest, response: HttpResponse, key: str, payload: RenameIn):
    return _run_edit(
        request,
        response,
        dry_run=payload.dry_run,
        rewrite=payload.rewrite_audiences,
        action=LabelChange.Action.RENAME_KEY,
        key=key,
        new_key=payload.new_key,
    )


@router.post(
    "/labels/{key}/merge",
    tags=["Labels"],
    **operation(
        {200: EditReviewOut, 202: JobOut},
        "invalid_label_key",
        "invalid_label_value",
        body=True,
        writes=True,
        summary="Merge values of a label key",
        description="Sets every label of the key whose value is one of `values` to `into`"
        + _EDIT_DESCRIPTION,
        operation_id="labels_merge_values",
    ),
)
def label_merge(request: ApiRequest, response: HttpResponse, key: str, payload: MergeIn):
    return _run_edit(
        request,
        response,
        dry_run=payload.dry_run,
        rewrite=payload.rewrite_audiences,
        action=LabelChange.Action.MERGE_VALUES,
        key=key,
        values=payload.values,
        value=payload.into,
    )


@router.post(
    "/labels/{key}/delete",
    tags=["Labels"],
    **operation(
        {200: EditReviewOut, 202: JobOut},
        "invalid_label_key",
        "invalid_label_value",
        body=True,
        writes=True,
        summary="Delete a label value or key",
        description="Removes the key (or only its labels with `value`)" + _EDIT_DESCRIPTION,
        operation_id="labels_delete",
    ),
)
def label_delete(request: ApiRequest, response: HttpResponse, key: str, payload: DeleteIn):
    action = LabelChange.Action.DELETE_KEY
    if payload.value is not None:
        action = LabelChange.Action.DELETE_VALUE
    return _run_edit(
        request,
        response,
        dry_run=payload.dry_run,
        rewrite=False,
        action=action,
        key=key,
        value=payload.value or "",
    )
