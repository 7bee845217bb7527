"""The API's OpenAPI document: each operation's documented answers, the API's description with
its error codes, and the condition schemas put in place."""

from typing import Any

from ninja import NinjaAPI

from api.conditions import CONDITION_SCHEMAS
from api.errors import ERRORS, ErrorOut

_ALWAYS = ("invalid_request", "missing_api_key", "invalid_api_key", "rate_limited")
_WITH_BODY = ("invalid_json", "payload_too_large")


def operation(
    success: dict[int, Any],
    *codes: str,
    operation_id: str,
    body: bool = False,
    writes: bool = False,
    description: str = "",
    summary: str | None = None,
    headers: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The keyword arguments of a router decorator: the success responses, and every error the
    operation can answer with, documented with its codes and an example.

    `operation_id` is the operation's stable name, `<resource>_<action>` (`contacts_upsert`),
    which generated clients name their functions after. `codes` are the operation's own error
    codes; authentication, rate limit, request validation (and, with `body`, JSON and size;
    with `writes`, read-only keys) are added here. `headers` documents the response headers
    of the success responses.
    """
    all_codes = list(_ALWAYS)
    if body:
        all_codes += _WITH_BODY
    if writes:
        all_codes.append("forbidden")
    all_codes += [code for code in codes if code not in all_codes]
    by_status: dict[int, list[str]] = {}
    for code in all_codes:
        by_status.setdefault(ERRORS[code][0], []).append(code)
    response: dict[int, Any] = dict(success)
    docs: dict[int, Any] = {}
    for status, status_codes in sorted(by_status.items()):
        response[status] = ErrorOut
        lines = [f"- `{code}`: {ERRORS[code][1]}" for code in status_codes]
        examples = {
            code: {
                "summary": code,
                "value": {"error": ERRORS[code][2], "code": code},
            }
            for code in status_codes
        }
        docs[status] = {
            "description": "\n".join(lines),
            "content": {"application/json": {"examples": examples}},
        }
    for status in success if headers else ():
        docs[status] = {"headers": headers}
    kwargs = {
        "response": response,
        "openapi_extra": {"responses": docs, **extra.pop("openapi_extra", {})},
        "description": description,
        "operation_id": operation_id,
        **extra,
    }
    if summary:
        kwargs["summary"] = summary
    return kwargs


DESCRIPTION = """
Trackly's JSON API: sending lists, contacts and their labels, the label catalogue, audiences,
bulk label actions, imports and jobs.

**Authentication.** Send an API key in the `X-Api-Key` header. Admins create keys on the
account's *Settings > API keys* page (or with `manage.py create_api_key`); a key belongs to one
account and sees only its data: objects of other accounts answer `404 not_found`, like objects
that do not exist. A read-only key can read everything and change nothing (`403 forbidden`).

**Errors.** Every error is JSON: `{"error": "<message>", "code": "<code>", "details": [...]}`;
`details` (optional) names the field of each problem. The codes:

{codes}

**Paging.** Collections take `page` and `per_page` (default 50, at most 1000) and answer
`{"data": [...], "pagination": {"page", "per_page", "total", "total_pages"}, "next_cursor"}`.
To walk a whole collection, however large, pass `cursor` (empty to start, then each answer's
`next_cursor` until it is null): pages by cursor are read by id and do not count the total.

**Conditions** (audiences, `GET /contacts`) are given as text, as in the dashboard
(`label:tier IN [gold, silver] AND label:churned NOT EXISTS`), or as a JSON tree:
`{"key", "op", "value"}` for `=` and `!=`, `{"key", "op", "values"}` for `IN` and `NOT IN`,
`{"key", "op"}` for `EXISTS` and `NOT EXISTS`, `{"and": [...]}`, `{"or": [...]}`,
`{"not": {...}}`. Answers give both: `conditions` (canonical text) and `conditions_tree`.

**Rate limit.** Each key may make `API_RATE_LIMIT` requests a second (50 by default, with a
small burst); beyond it, `429 rate_limited` with a `Retry-After` header.
"""


def api_description() -> str:
    """The API's description, with every error code it answers."""
    codes = "\n".join(
        f"- `{status} {code}`: {meaning}"
        for code, (status, meaning, _) in sorted(ERRORS.items(), key=lambda item: item[1][0])
    )
    return DESCRIPTION.replace("{codes}", codes)


def _resolve_marks(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"x-trackly-ref"}:
            return {"$ref": f"#/components/schemas/{node['x-trackly-ref']}"}
        return {key: _resolve_marks(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve_marks(item) for item in node]
    return node


def _parameter_examples(paths: dict[str, Any]) -> None:
    """Give each parameter's examples as OpenAPI 3.1 wants them.

    ninja copies a field's JSON Schema `examples` (a list) onto the parameter, where OpenAPI
    wants a map of example objects; the schema inside the parameter keeps its list.
    """
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                examples = parameter.get("examples")
                if isinstance(examples, list):
                    parameter["examples"] = {
                        f"example_{number}": {"value": value}
                        for number, value in enumerate(examples, 1)
                    }


class TracklyAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        schema = super().get_openapi_schema(**kwargs)
        schema["paths"] = _resolve_marks(schema["paths"])
        _parameter_examples(schema["paths"])
        components = schema["components"]
        components["schemas"] = _resolve_marks(components["schemas"]) | CONDITION_SCHEMAS
        return schema
