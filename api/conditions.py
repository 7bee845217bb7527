"""Audience conditions in the API: their OpenAPI schemas, and reading and answering them
through the one parser and printer (`audiences.conditions`)."""

from typing import Annotated, Any

from pydantic import WithJsonSchema

from api.errors import invalid
from api.fields import LABEL_KEY_SCHEMA, LABEL_VALUE_SCHEMA
from audiences.conditions import (
    IN_AUDIENCE,
    MAX_AUDIENCE_NAME,
    MAX_CONDITIONS,
    MAX_LIST_VALUES,
    MAX_NESTING_DEPTH,
    MAX_TEXT_LENGTH,
    ConditionError,
    Node,
    from_json,
    parse,
    to_json,
    to_text,
)
from audiences.models import Audience, named_audiences, resolve_audiences
from trackly.models import Account

_KEY_SCHEMA = {**LABEL_KEY_SCHEMA, "example": "tier"}
_VALUE_SCHEMA = {**LABEL_VALUE_SCHEMA, "example": "gold"}
_TREE_REF = {"$ref": "#/components/schemas/ConditionTree"}
# Pydantic resolves every `$ref` of a model's schema itself, so the models' fields refer to the
# tree with this marker, which `TracklyAPI` turns into the `$ref` once the schema is built.
_TREE_MARK = {"x-trackly-ref": "ConditionTree"}


def _group_schema(name: str, meaning: str) -> dict:
    return {
        "type": "object",
        "description": meaning,
        "properties": {
            name: {"type": "array", "items": _TREE_REF, "minItems": 1, "maxItems": MAX_CONDITIONS}
        },
        "required": [name],
        "additionalProperties": False,
    }


def _condition_schema(ops: list[str], operand: str | None, meaning: str) -> dict:
    properties: dict[str, Any] = {"key": _KEY_SCHEMA, "op": {"type": "string", "enum": ops}}
    if operand == "value":
        properties["value"] = _VALUE_SCHEMA
    elif operand == "values":
        properties["values"] = {
            "type": "array",
            "items": _VALUE_SCHEMA,
            "minItems": 1,
            "maxItems": MAX_LIST_VALUES,
        }
    return {
        "type": "object",
        "description": meaning,
        "properties": properties,
        "required": ["key", "op", *([operand] if operand else [])],
        "additionalProperties": False,
    }


# The JSON tree of `audiences.conditions.to_json` / `from_json`, for the OpenAPI schema.
CONDITION_SCHEMAS: dict[str, dict] = {
    "ConditionTree": {
        "description": "Audience conditions as a JSON tree (the same as the text form, which "
        "answers give beside it as `conditions`). "
        f"At most {MAX_CONDITIONS} conditions and {MAX_NESTING_DEPTH} levels.",
        "anyOf": [
            {"$ref": "#/components/schemas/ValueCondition"},
            {"$ref": "#/components/schemas/ListCondition"},
            {"$ref": "#/components/schemas/ExistsCondition"},
            {"$ref": "#/components/schemas/AudienceCondition"},
            {"$ref": "#/components/schemas/AllConditions"},
            {"$ref": "#/components/schemas/AnyCondition"},
            {"$ref": "#/components/schemas/NotCondition"},
        ],
        "example": {
            "and": [
                {"key": "ltv_tier", "op": "=", "value": "vip"},
                {"key": "last_purchase_days", "op": "IN", "values": ["90", "180"]},
                {"not": {"key": "churned", "op": "EXISTS"}},
            ]
        },
    },
    "ValueCondition": _condition_schema(
        ["=", "!="],
        "value",
        "`=`: the contact has the key with this value. `!=`: it does not (a contact without "
        "the key matches).",
    ),
    "ListCondition": _condition_schema(
        ["IN", "NOT IN"],
        "values",
        "`IN`: the contact has the key with one of the values. `NOT IN`: it does not (a "
        "contact without the key matches).",
    ),
    "ExistsCondition": _condition_schema(
        ["EXISTS", "NOT EXISTS"], None, "Whether the contact has the key, with any value."
    ),
    "AudienceCondition": {
        "type": "object",
        "description": "`IN AUDIENCE`: the contact is a member of a saved audience (of its "
        "conditions and lists, or of a static audience's contacts). Answers give the audience "
        "by `audience_id`; a request may name it (`audience`) instead. `NOT IN AUDIENCE` is this "
        "inside `not`.",
        "properties": {
            "op": {"type": "string", "enum": [IN_AUDIENCE]},
            "audience_id": {"type": "integer", "minimum": 1, "example": 7},
            "audience": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_AUDIENCE_NAME,
                "example": "VIP Winback",
            },
        },
        "required": ["op"],
        "oneOf": [{"required": ["audience_id"]}, {"required": ["audience"]}],
        "additionalProperties": False,
    },
    "AllConditions": _group_schema("and", "Every condition of the list matches."),
    "AnyCondition": _group_schema("or", "At least one condition of the list matches."),
    "NotCondition": {
        "type": "object",
        "description": "The condition does not match.",
        "properties": {"not": _TREE_REF},
        "required": ["not"],
        "additionalProperties": False,
    },
}

# Conditions in a request: text, a JSON tree, or null for none (every subscribed contact).
ConditionsIn = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_TEXT_LENGTH},
                _TREE_MARK,
                {"type": "null"},
            ],
            "description": "Text (`label:tier IN [gold, silver] AND label:vip EXISTS`), a JSON "
            "tree, or null or empty for none: every subscribed contact in scope.",
            "examples": ["label:ltv_tier = vip AND label:last_purchase_days = 90"],
        }
    ),
]
ConditionsTreeOut = Annotated[
    dict[str, Any] | None, WithJsonSchema({"anyOf": [_TREE_MARK, {"type": "null"}]})
]


def read_conditions(
    raw: object,
    field: str = "conditions",
    *,
    account: Account,
    audience: Audience | None = None,
) -> Node | None:
    """Conditions given as text or as a JSON tree, as a tree in the stored form (audiences by
    id, `resolve_audiences`; a loop back to `audience` refused); or the API error saying where
    they are wrong (`invalid_conditions`, or the label validator's code)."""
    try:
        if raw is None:
            return None
        tree = parse(raw) if isinstance(raw, str) else from_json(raw)
        return resolve_audiences(account, tree, audience=audience)
    except ConditionError as error:
        raise invalid(error, field) from None


def conditions_out(tree: Node | None, account: Account) -> dict[str, Any]:
    """The `conditions` (canonical text, naming audiences) and `conditions_tree` (audiences by
    id) of an answer."""
    return {
        "conditions": to_text(named_audiences(account, tree)),
        "conditions_tree": to_json(tree),
    }
