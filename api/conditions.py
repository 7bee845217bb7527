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
    MAX_DAYS,
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
# A number (`90`, `-2.5`) or a date (`2024-03-20`, a real day: the pattern cannot say so).
_LITERAL_SCHEMA = {
    "type": "string",
    "pattern": r"^(-?[0-9]+(\.[0-9]+)?|[0-9]{4}-[0-9]{2}-[0-9]{2})$",
    "example": "90",
}
_DAYS_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_DAYS, "example": 30}
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
    elif operand == "literal":
        properties["value"] = _LITERAL_SCHEMA
    elif operand == "bounds":
        properties["values"] = {
            "type": "array",
            "items": _LITERAL_SCHEMA,
            "minItems": 2,
            "maxItems": 2,
        }
    elif operand == "days":
        properties["days"] = _DAYS_SCHEMA
    field = {"literal": "value", "bounds": "values"}.get(operand or "", operand)
    return {
        "type": "object",
        "description": meaning,
        "properties": properties,
        "required": ["key", "op", *([field] if field else [])],
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
            {"$ref": "#/components/schemas/CompareCondition"},
            {"$ref": "#/components/schemas/BetweenCondition"},
            {"$ref": "#/components/schemas/DaysCondition"},
            {"$ref": "#/components/schemas/TextCondition"},
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
    "CompareCondition": _condition_schema(
        ["<", "<=", ">", ">="],
        "literal",
        "The contact has the key with a value that is a number (`90`, `-2.5`) or a date "
        "(`2024-03-20`), as the literal is, and compares so. A value in another form (`200+`, "
        "`1e5`, `Jan 15, 2024`) does not match; under `not` it does.",
    ),
    "BetweenCondition": _condition_schema(
        ["BETWEEN"],
        "bounds",
        "The key's value is a number (or date) from the first to the second, both included; "
        "both bounds are numbers or both are dates.",
    ),
    "DaysCondition": _condition_schema(
        ["WITHIN LAST DAYS", "MORE THAN DAYS AGO"],
        "days",
        "`WITHIN LAST DAYS`: the key's value is a date from `days` days before today to today. "
        "`MORE THAN DAYS AGO`: a date before that. Today is the date in the account's time "
        "zone.",
    ),
    "TextCondition": _condition_schema(
        ["CONTAINS", "STARTS WITH", "ENDS WITH"],
        "value",
        "The key's value contains, starts with or ends with the text; A-Z and a-z match "
        "either case, every other character only itself; `%`, `_` and `\\` are literal.",
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
            "description": "Text (`label:tier IN [gold, silver] AND label:last_purchase WITHIN "
            "LAST 30 DAYS`), a JSON "
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
