"""GET /audiences/{id}/explain: why a contact is or is not a member, as a tree."""

from audiences.models import Audience
from tests.factories import ContactFactory, label_contact


def test_explain_answers_the_tree_for_a_contact(api, account, sending_list):
    contact = label_contact(ContactFactory(sending_list=sending_list), {"ltv_tier": "standard"})
    audience = Audience.objects.create(
        account=account,
        name="VIP",
        conditions="label:ltv_tier = vip AND label:churned NOT EXISTS",
    )
    response = api.get(f"audiences/{audience.pk}/explain", {"contact_id": contact.pk})
    assert response.status_code == 200
    assert response.json() == {
        "audience_id": audience.pk,
        "contact_id": contact.pk,
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


def test_explain_of_a_member_without_conditions(api, account, contact):
    audience = Audience.objects.create(account=account, name="Everyone")
    response = api.get(f"audiences/{audience.pk}/explain", {"contact_id": contact.pk})
    assert response.status_code == 200
    body = response.json()
    assert (body["member"], body["conditions_matched"], body["conditions"]) == (True, True, None)


def test_read_only_keys_may_explain(read_only_api, account, contact):
    audience = Audience.objects.create(account=account, name="Everyone")
    response = read_only_api.get(f"audiences/{audience.pk}/explain", {"contact_id": contact.pk})
    assert response.status_code == 200


def test_another_accounts_contact_is_not_found(api, account, other_contact):
    audience = Audience.objects.create(account=account, name="Everyone")
    response = api.get(f"audiences/{audience.pk}/explain", {"contact_id": other_contact.pk})
    assert response.status_code == 404
    assert response.json() == {
        "error": f"No contact with id {other_contact.pk}.",
        "code": "not_found",
    }


def test_another_accounts_audience_is_not_found(outsider_api, account, contact):
    audience = Audience.objects.create(account=account, name="Everyone")
    response = outsider_api.get(f"audiences/{audience.pk}/explain", {"contact_id": contact.pk})
    assert response.status_code == 404
    assert response.json() == {
        "error": f"No audience with id {audience.pk}.",
        "code": "not_found",
    }


def test_the_contact_id_is_required_and_must_be_an_id(api, account):
    audience = Audience.objects.create(account=account, name="Everyone")
    missing = api.get(f"audiences/{audience.pk}/explain")
    assert missing.status_code == 400
    assert missing.json()["code"] == "invalid_request"
    assert missing.json()["details"][0]["field"] == "contact_id"
    zero = api.get(f"audiences/{audience.pk}/explain", {"contact_id": 0})
    assert zero.status_code == 400
    assert zero.json()["details"][0]["field"] == "contact_id"
