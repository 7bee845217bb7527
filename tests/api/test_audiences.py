import pytest

from audiences.models import Audience, LabelChange
from contacts.models import Label
from tests.factories import ContactFactory, SendingListFactory, label_contact
from trackly.models import Job

VIP_WINBACK = "label:ltv_tier = vip AND label:last_purchase_days = 90"


@pytest.fixture
def shoppers(account, sending_list):
    """Three subscribed VIPs who bought 90 days ago (one on a second list), an unsubscribed one,
    and a standard customer."""
    second = SendingListFactory(account=account, name="Second")
    vip = {"ltv_tier": "vip", "last_purchase_days": "90"}
    return {
        "vips": [
            label_contact(ContactFactory(sending_list=sending_list), vip),
            label_contact(ContactFactory(sending_list=sending_list), vip),
            label_contact(ContactFactory(sending_list=second), vip),
        ],
        "unsubscribed": label_contact(
            ContactFactory(
                sending_list=sending_list,
                status="unsubscribed",
                unsubscribed_at="2025-01-01T00:00:00Z",
            ),
            vip,
        ),
        "standard": label_contact(
            ContactFactory(sending_list=sending_list), {"ltv_tier": "standard"}
        ),
        "second": second,
    }


@pytest.fixture
def audience(account):
    return Audience.objects.create(account=account, name="VIP Winback", conditions=VIP_WINBACK)


def test_an_audience_is_created_from_the_seeds_informal_text(api, shoppers):
    response = api.post(
        "audiences",
        {"name": "VIP Winback", "conditions": "ltv_tier=vip AND last_purchase_days=90"},
    )
    assert response.status_code == 201
    audience = Audience.objects.get()
    assert response.json() == {
        "id": audience.pk,
        "name": "VIP Winback",
        "description": "",
        "conditions": VIP_WINBACK,
        "conditions_tree": {
            "and": [
                {"key": "ltv_tier", "op": "=", "value": "vip"},
                {"key": "last_purchase_days", "op": "=", "value": "90"},
            ]
        },
        "list_ids": [],
        "status": "active",
        "kind": "dynamic",
        "created_at": response.json()["created_at"],
        "updated_at": response.json()["updated_at"],
        "count": 3,
        "dropped_out": 0,
    }
    assert audience.conditions == VIP_WINBACK


def test_an_audience_is_created_from_a_json_tree_on_chosen_lists(api, shoppers, api_key):
    tree = {"key": "ltv_tier", "op": "IN", "values": ["vip", "standard"]}
    response = api.post(
        "audiences",
        {"name": "All tiers", "conditions": tree, "list_ids": [shoppers["second"].pk]},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["conditions"] == "label:ltv_tier IN [vip, standard]"
    assert body["conditions_tree"] == tree
    assert body["list_ids"] == [shoppers["second"].pk]
    assert body["count"] == 1
    assert Audience.objects.get().created_by == api_key[0].created_by


def test_an_audience_without_conditions_is_every_subscribed_contact(api, shoppers):
    response = api.post("audiences", {"name": "Everyone"})
    assert response.json()["conditions"] == ""
    assert response.json()["conditions_tree"] is None
    assert response.json()["count"] == 4


def test_a_taken_name_is_a_conflict(api, audience):
    response = api.post("audiences", {"name": "VIP Winback"})
    assert response.status_code == 409
    assert response.json() == {
        "error": "An audience with this name already exists.",
        "code": "conflict",
    }


def test_invalid_conditions_are_refused_with_their_position(api, account):
    response = api.post("audiences", {"name": "Broken", "conditions": "tier IN [gold"})
    assert response.status_code == 400
    detail = response.json()["details"][0]
    assert (detail["code"], detail["field"], detail["column"]) == (
        "invalid_conditions",
        "conditions",
        14,
    )
    response = api.post("audiences", {"name": "Broken", "conditions": {"key": "tier", "op": "~"}})
    assert response.json()["details"][0]["path"] == "op"
    response = api.post("audiences", {"name": "Broken", "conditions": [1]})
    assert response.json()["code"] == "invalid_conditions"
    assert not Audience.objects.exists()


def test_another_accounts_list_in_scope_is_not_found(api, account, other_contact):
    list_id = other_contact.sending_list_id
    response = api.post("audiences", {"name": "Theirs", "list_ids": [list_id]})
    assert response.status_code == 404
    assert response.json()["error"] == f"No sending list with id {list_id}."
    assert not Audience.objects.exists()


def test_audiences_are_listed_without_counts(api, account, audience):
    archived = Audience.objects.create(account=account, name="Old", status="archived")
    body = api.get("audiences").json()
    assert [a["id"] for a in body["data"]] == [audience.pk, archived.pk]
    assert "count" not in body["data"][0]
    assert [a["id"] for a in api.get("audiences", {"status": "archived"}).json()["data"]] == [
        archived.pk
    ]


def test_an_audience_is_read_with_its_live_count(api, audience, shoppers):
    body = api.get(f"audiences/{audience.pk}").json()
    assert (body["name"], body["count"]) == ("VIP Winback", 3)
    label_contact(
        ContactFactory(account=audience.account, sending_list=shoppers["second"]),
        {"ltv_tier": "vip", "last_purchase_days": "90"},
    )
    assert api.get(f"audiences/{audience.pk}").json()["count"] == 4


def test_patch_changes_only_the_fields_given(api, audience, shoppers):
    response = api.patch(
        f"audiences/{audience.pk}",
        {"conditions": "ltv_tier = standard", "list_ids": [shoppers["second"].pk]},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["conditions"], body["list_ids"], body["count"]) == (
        "VIP Winback",
        "label:ltv_tier = standard",
        [shoppers["second"].pk],
        0,
    )
    body = api.patch(f"audiences/{audience.pk}", {"status": "archived", "list_ids": []}).json()
    assert (body["status"], body["list_ids"], body["conditions"]) == (
        "archived",
        [],
        "label:ltv_tier = standard",
    )
    body = api.patch(f"audiences/{audience.pk}", {"conditions": None, "name": "All"}).json()
    assert (body["conditions"], body["name"], body["count"]) == ("", "All", 4)


def test_patch_to_a_taken_name_is_a_conflict(api, account, audience):
    Audience.objects.create(account=account, name="Other")
    response = api.patch(f"audiences/{audience.pk}", {"name": "Other"})
    assert response.status_code == 409
    assert api.patch(f"audiences/{audience.pk}", {"name": "VIP Winback"}).status_code == 200


def test_delete_removes_the_audience_and_keeps_the_contacts(api, audience, shoppers):
    response = api.delete(f"audiences/{audience.pk}")
    assert response.status_code == 204
    assert not Audience.objects.exists()
    assert Label.objects.filter(key="ltv_tier").count() == 5


def test_members_are_the_subscribed_matching_contacts(api, audience, shoppers):
    response = api.get(f"audiences/{audience.pk}/contacts", {"per_page": 2})
    body = response.json()
    assert [c["id"] for c in body["data"]] == [c.pk for c in shoppers["vips"][:2]]
    assert body["pagination"]["total"] == 3
    rest = api.get(f"audiences/{audience.pk}/contacts", {"cursor": body["next_cursor"]}).json()
    assert [c["id"] for c in rest["data"]] == [shoppers["vips"][2].pk]


def test_count_saves_nothing(api, shoppers):
    response = api.post("audiences/count", {"conditions": VIP_WINBACK})
    assert response.json() == {"count": 3}
    response = api.post(
        "audiences/count",
        {"conditions": {"key": "ltv_tier", "op": "EXISTS"}, "list_ids": [shoppers["second"].pk]},
    )
    assert response.json() == {"count": 1}
    assert api.post("audiences/count", {}).json() == {"count": 4}
    assert not Audience.objects.exists()


def test_count_refuses_bad_conditions(api, account):
    response = api.post("audiences/count", {"conditions": "tier ="})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_conditions"


def test_another_accounts_audience_is_not_found(api, outsider_api, audience):
    path = f"audiences/{audience.pk}"
    for response in (
        outsider_api.get(path),
        outsider_api.patch(path, {"name": "Mine"}),
        outsider_api.delete(path),
        outsider_api.get(f"{path}/contacts"),
        outsider_api.post(f"{path}/add-label", {"key": "a", "value": "b"}),
        outsider_api.post(f"{path}/remove-label", {"key": "a"}),
    ):
        assert response.status_code == 404
        assert response.json() == {
            "error": f"No audience with id {audience.pk}.",
            "code": "not_found",
        }
    audience.refresh_from_db()
    assert audience.name == "VIP Winback"
    assert not LabelChange.objects.exists()


# Bulk label actions


def test_add_label_starts_a_job_recorded_in_the_audit_log(api, api_key, audience, shoppers):
    response = api.post(
        f"audiences/{audience.pk}/add-label", {"key": "winback", "value": "2025-03"}
    )
    assert response.status_code == 202
    job = Job.objects.get()
    assert response["Location"] == f"/api/v1/jobs/{job.pk}"
    body = response.json()
    # Tests run jobs at once.
    assert body == {
        "id": job.pk,
        "kind": "add_label",
        "status": "succeeded",
        "progress": {"done": 3, "total": 3},
        "result": {"matching": 3, "gained": 3, "replaced": 0, "already": 0, "skipped": 0},
        "error": None,
        "created_at": body["created_at"],
        "finished_at": body["finished_at"],
    }
    change = LabelChange.objects.get()
    assert (change.action, change.key, change.value, change.audience, change.job) == (
        "add",
        "winback",
        "2025-03",
        audience,
        job,
    )
    assert change.conditions == VIP_WINBACK
    assert change.created_by == api_key[0].created_by
    assert Label.objects.filter(key="winback").count() == 3


def test_remove_label_starts_a_job(api, audience, shoppers):
    response = api.post(f"audiences/{audience.pk}/remove-label", {"key": "ltv_tier"})
    assert response.status_code == 202
    assert response.json()["kind"] == "remove_label"
    assert response.json()["result"] == {"matching": 3, "removed": 3}
    # The unsubscribed and the standard contacts keep theirs.
    assert Label.objects.filter(key="ltv_tier").count() == 2


@pytest.mark.parametrize(
    ("action", "body", "code", "field"),
    [
        ("add-label", {"key": "bad key", "value": "x"}, "invalid_label_key", "key"),
        ("add-label", {"key": "ok", "value": " "}, "invalid_label_value", "value"),
        ("add-label", {"key": "ok"}, "invalid_request", "value"),
        ("remove-label", {"key": ""}, "invalid_label_key", "key"),
    ],
)
def test_bulk_actions_check_key_and_value(api, audience, action, body, code, field):
    response = api.post(f"audiences/{audience.pk}/{action}", body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["details"][0]["field"] == field
    assert not Job.objects.exists()
    assert not LabelChange.objects.exists()
