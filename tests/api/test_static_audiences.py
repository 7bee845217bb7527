"""The API's static audiences (kind, members by id and by phone, freeze) and IN AUDIENCE."""

import pytest

from audiences.models import Audience, StaticMember
from tests.factories import ContactFactory, label_contact
from trackly.models import Job


@pytest.fixture
def people(sending_list):
    return [
        label_contact(
            ContactFactory(sending_list=sending_list, phone_number=f"+1415555{n:04d}"),
            {"tier": "vip" if n < 2 else "regular"},
        )
        for n in range(4)
    ]


@pytest.fixture
def static(account):
    return Audience.objects.create(account=account, name="Kept", kind=Audience.Kind.STATIC)


@pytest.fixture
def vips(account):
    return Audience.objects.create(account=account, name="VIPs", conditions="label:tier = vip")


def test_a_static_audience_is_created_empty(api):
    response = api.post("audiences", {"name": "Kept", "kind": "static"})
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["count"], body["dropped_out"], body["conditions"]) == (
        "static",
        0,
        0,
        "",
    )
    assert Audience.objects.get().kind == "static"


def test_a_static_audience_with_conditions_is_refused(api):
    response = api.post("audiences", {"name": "Kept", "kind": "static", "conditions": "a = b"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert response.json()["details"][0]["field"] == "kind"
    assert not Audience.objects.exists()


def test_members_are_added_by_id_and_by_phone(api, static, people, other_contact):
    response = api.post(
        f"audiences/{static.pk}/members",
        {
            "contact_ids": [people[0].pk, other_contact.pk],
            "phone_numbers": ["(415) 555-0001", "+14155559876", "nonsense"],
        },
    )
    assert response.status_code == 200
    assert response.json() == {
        "added": 2,
        "not_found": 2,
        "not_found_examples": [str(other_contact.pk), "+14155559876"],
        "invalid": 1,
        "invalid_examples": ["nonsense"],
        "count": 2,
    }
    detail = api.get(f"audiences/{static.pk}").json()
    assert (detail["count"], detail["kind"]) == (2, "static")
    listed = api.get(f"audiences/{static.pk}/contacts").json()["data"]
    assert [item["id"] for item in listed] == [people[0].pk, people[1].pk]


def test_members_are_removed_by_id_and_by_phone(api, static, people):
    StaticMember.objects.bulk_create(
        StaticMember(audience=static, contact=c, account=static.account) for c in people
    )
    response = api.post(
        f"audiences/{static.pk}/members/remove",
        {"contact_ids": [people[0].pk], "phone_numbers": ["+14155550001"]},
    )
    assert response.status_code == 200
    assert response.json() == {"removed": 2, "count": 2}


def test_removing_by_a_bad_phone_names_it(api, static):
    response = api.post(f"audiences/{static.pk}/members/remove", {"phone_numbers": ["x"]})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_phone"
    assert response.json()["details"][0]["field"] == "phone_numbers.0"


def test_a_dynamic_audience_has_no_members_to_add(api, vips, people):
    response = api.post(f"audiences/{vips.pk}/members", {"contact_ids": [people[0].pk]})
    assert response.status_code == 409
    assert response.json() == {
        "error": f"The audience {vips.pk} is dynamic: its members are the contacts matching its "
        "conditions; only a static audience has members to add or remove.",
        "code": "conflict",
    }


def test_freeze_makes_a_static_audience_by_a_job(api, vips, people):
    response = api.post(f"audiences/{vips.pk}/freeze", {"name": "VIPs, March"})
    assert response.status_code == 202
    body = response.json()
    static = Audience.objects.get(name="VIPs, March")
    assert body["audience"]["id"] == static.pk
    assert body["audience"]["kind"] == "static"
    assert body["audience"]["conditions"] == "label:tier = vip"
    assert body["job"]["kind"] == Job.Kind.FILL_STATIC
    assert api.get(f"audiences/{static.pk}").json()["count"] == 2


def test_freeze_refuses_a_static_audience_and_a_taken_name(api, static, vips):
    assert api.post(f"audiences/{static.pk}/freeze", {"name": "X"}).status_code == 409
    response = api.post(f"audiences/{vips.pk}/freeze", {"name": "Kept"})
    assert response.status_code == 409
    assert response.json()["error"] == "An audience with this name already exists."


def test_outsiders_get_404(outsider_api, static, vips, people):
    for path, body in [
        (f"audiences/{static.pk}/members", {"contact_ids": [people[0].pk]}),
        (f"audiences/{static.pk}/members/remove", {"contact_ids": [people[0].pk]}),
        (f"audiences/{vips.pk}/freeze", {"name": "Theirs"}),
    ]:
        response = outsider_api.post(path, body)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert StaticMember.objects.count() == 0
    assert Audience.objects.count() == 2


def test_read_only_keys_cannot_change_members(read_only_api, static, people):
    response = read_only_api.post(f"audiences/{static.pk}/members", {"contact_ids": [people[0].pk]})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert StaticMember.objects.count() == 0


def test_in_audience_by_name_is_stored_by_id_and_answered_by_name(api, vips, people):
    response = api.post("audiences", {"name": "Regulars", "conditions": 'NOT IN AUDIENCE "VIPs"'})
    assert response.status_code == 201
    body = response.json()
    assert body["conditions"] == 'NOT IN AUDIENCE "VIPs"'
    assert body["conditions_tree"] == {"not": {"op": "IN AUDIENCE", "audience_id": vips.pk}}
    assert body["count"] == 2
    assert Audience.objects.get(name="Regulars").conditions == f"NOT IN AUDIENCE #{vips.pk}"
    api.patch(f"audiences/{vips.pk}", {"name": "Best"})
    assert api.get(f"audiences/{body['id']}").json()["conditions"] == 'NOT IN AUDIENCE "Best"'


def test_in_audience_as_a_json_tree_counts(api, vips, people):
    tree = {"and": [{"op": "IN AUDIENCE", "audience_id": vips.pk}, {"key": "tier", "op": "EXISTS"}]}
    assert api.post("audiences/count", {"conditions": tree}).json() == {"count": 2}
    by_name = {"op": "IN AUDIENCE", "audience": "VIPs"}
    assert api.post("audiences/count", {"conditions": by_name}).json() == {"count": 2}


def test_an_unknown_audience_is_invalid_conditions(api):
    response = api.post("audiences/count", {"conditions": 'IN AUDIENCE "Nobody"'})
    assert response.status_code == 400
    assert response.json() == {
        "error": 'IN AUDIENCE: no audience is named "Nobody"',
        "code": "invalid_conditions",
        "details": [
            {
                "field": "conditions",
                "message": 'IN AUDIENCE: no audience is named "Nobody"',
                "code": "invalid_conditions",
            }
        ],
    }


def test_a_loop_is_refused(api, vips):
    response = api.patch(f"audiences/{vips.pk}", {"conditions": 'IN AUDIENCE "VIPs"'})
    assert response.status_code == 400
    assert response.json()["error"] == 'IN AUDIENCE "VIPs" would make a loop: "VIPs" → "VIPs"'


def test_an_audience_in_use_cannot_be_deleted_or_archived(api, account, vips):
    Audience.objects.create(account=account, name="Users", conditions=f"IN AUDIENCE #{vips.pk}")
    message = '"VIPs" cannot be {}: IN AUDIENCE refers to it in "Users".'
    response = api.delete(f"audiences/{vips.pk}")
    assert response.status_code == 409
    assert response.json() == {"error": message.format("deleted"), "code": "conflict"}
    response = api.patch(f"audiences/{vips.pk}", {"status": "archived"})
    assert response.status_code == 409
    assert response.json() == {"error": message.format("archived"), "code": "conflict"}
    vips.refresh_from_db()
    assert vips.status == "active"


def test_contacts_filtered_by_in_audience(api, vips, people):
    response = api.get("contacts", {"conditions": 'IN AUDIENCE "VIPs"'})
    assert [item["id"] for item in response.json()["data"]] == [people[0].pk, people[1].pk]
