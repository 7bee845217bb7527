"""Typed and text conditions (numbers, dates, CONTAINS ...) through the API: text and JSON tree
in, canonical text and tree out, counts, contact filters, errors with their position, and the
OpenAPI schema of the new tree nodes."""

import datetime
import json

import pytest

from audiences.models import Audience
from tests.factories import ContactFactory, label_contact


@pytest.fixture
def buyers(account, sending_list):
    """Contacts with a purchase date, an order count and a note; `today` in the account's zone."""
    today = account.today()

    def ago(days):
        return str(today - datetime.timedelta(days=days))

    def make(labels):
        return label_contact(ContactFactory(sending_list=sending_list), labels)

    return {
        "recent": make({"last_purchase": ago(3), "orders": "12", "note": "Big Spender"}),
        "lapsed": make({"last_purchase": ago(120), "orders": "2", "note": "50% coupon"}),
        "broken": make({"last_purchase": "Jan 15, 2024", "orders": "200+"}),
        "none": make({}),
    }


def _ids(response):
    assert response.status_code == 200, response.content
    return [contact["id"] for contact in response.json()["data"]]


def test_an_audience_is_created_with_typed_and_text_conditions_as_text(api, buyers):
    response = api.post(
        "audiences",
        {
            "name": "Winback",
            "conditions": "last_purchase more than 90 days ago and orders >= 2 "
            "and not note contains spender",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["conditions"] == (
        "label:last_purchase MORE THAN 90 DAYS AGO AND label:orders >= 2 "
        "AND NOT label:note CONTAINS spender"
    )
    assert body["conditions_tree"] == {
        "and": [
            {"key": "last_purchase", "op": "MORE THAN DAYS AGO", "days": 90},
            {"key": "orders", "op": ">=", "value": "2"},
            {"not": {"key": "note", "op": "CONTAINS", "value": "spender"}},
        ]
    }
    assert body["count"] == 1
    assert Audience.objects.get().conditions == body["conditions"]


def test_an_audience_is_created_from_a_tree_with_every_new_node(api, buyers):
    tree = {
        "or": [
            {"key": "last_purchase", "op": "WITHIN LAST DAYS", "days": 30},
            {"key": "orders", "op": "BETWEEN", "values": ["1", "5"]},
            {"key": "note", "op": "STARTS WITH", "value": "50%"},
            {"key": "note", "op": "ENDS WITH", "value": "SPENDER"},
            {"key": "last_purchase", "op": "<", "value": "2000-01-01"},
        ]
    }
    response = api.post("audiences", {"name": "Any", "conditions": tree})
    assert response.status_code == 201
    body = response.json()
    assert body["conditions_tree"] == tree
    assert body["conditions"] == (
        "label:last_purchase WITHIN LAST 30 DAYS OR label:orders BETWEEN 1 AND 5 "
        "OR label:note STARTS WITH 50% OR label:note ENDS WITH SPENDER "
        "OR label:last_purchase < 2000-01-01"
    )
    assert body["count"] == 2


def test_count_and_contacts_filter_with_typed_conditions(api, buyers):
    response = api.post("audiences/count", {"conditions": "orders < 10"})
    assert response.json()["count"] == 1
    response = api.post("audiences/count", {"conditions": "NOT orders < 10"})
    assert response.json()["count"] == 3
    found = _ids(api.get("contacts", {"conditions": "last_purchase WITHIN LAST 7 DAYS"}))
    assert found == [buyers["recent"].pk]
    tree = {"key": "note", "op": "CONTAINS", "value": "%"}
    assert _ids(api.get("contacts", {"conditions": json.dumps(tree)})) == [buyers["lapsed"].pk]


def test_a_literal_that_is_neither_a_number_nor_a_date_names_its_column(api, account):
    response = api.post("audiences", {"name": "Broken", "conditions": "orders > 1,000"})
    assert response.status_code == 400
    message = "expected a number or a date (like 90, -2.5 or 2024-03-20) at column 10, not '1,000'"
    assert response.json() == {
        "error": message,
        "code": "invalid_conditions",
        "details": [
            {
                "field": "conditions",
                "message": message,
                "code": "invalid_conditions",
                "column": 10,
            }
        ],
    }
    assert not Audience.objects.exists()


def test_a_bad_typed_tree_names_the_path(api, account):
    tree = {
        "and": [{"key": "a", "op": "WITHIN LAST DAYS", "days": -1}, {"key": "b", "op": "EXISTS"}]
    }
    response = api.post("audiences/count", {"conditions": tree})
    assert response.status_code == 400
    detail = response.json()["details"][0]
    assert (detail["code"], detail["path"], detail["message"]) == (
        "invalid_conditions",
        "and[0].days",
        "expected a whole number of days from 0 to 36500 at and[0].days",
    )


def test_the_schema_documents_the_new_tree_nodes(api):
    schemas = api.get("openapi.json").json()["components"]["schemas"]
    refs = [item["$ref"].rsplit("/", 1)[1] for item in schemas["ConditionTree"]["anyOf"]]
    assert refs[3:7] == ["CompareCondition", "BetweenCondition", "DaysCondition", "TextCondition"]
    assert schemas["CompareCondition"]["properties"]["op"]["enum"] == ["<", "<=", ">", ">="]
    assert schemas["BetweenCondition"]["properties"]["values"]["minItems"] == 2
    assert schemas["DaysCondition"]["properties"]["days"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 36500,
        "example": 30,
    }
    assert schemas["DaysCondition"]["required"] == ["key", "op", "days"]
    assert schemas["TextCondition"]["properties"]["op"]["enum"] == [
        "CONTAINS",
        "STARTS WITH",
        "ENDS WITH",
    ]
