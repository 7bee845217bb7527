import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from audiences.models import Audience, LabelChange
from contacts.models import Label
from trackly.models import Job, Membership


def test_admin_action_adds_a_label_through_a_job(superuser_client, contact, other_contact):
    url = reverse("admin:contacts_contact_changelist")
    ids = [contact.pk, other_contact.pk]
    asked = superuser_client.post(url, {"action": "add_label", ACTION_CHECKBOX_NAME: ids})
    assert asked.status_code == 200
    assert b"2 contacts selected" in asked.content
    superuser_client.post(
        url, {"action": "add_label", ACTION_CHECKBOX_NAME: ids, "key": "promo", "value": "spring"}
    )
    # One job per account, each in that account's audit log.
    assert sorted(change.account_id for change in LabelChange.objects.all()) == sorted(
        [contact.account_id, other_contact.account_id]
    )
    assert set(Job.objects.values_list("status", flat=True)) == {"succeeded"}
    assert Label.objects.get(contact=contact, key="promo").value == "spring"
    assert Label.objects.get(contact=other_contact, key="promo").value == "spring"


def test_admin_action_uses_the_label_validator(superuser_client, contact):
    url = reverse("admin:contacts_contact_changelist")
    response = superuser_client.post(
        url,
        {"action": "add_label", ACTION_CHECKBOX_NAME: [contact.pk], "key": "bad key", "value": "x"},
    )
    html = response.content.decode().replace("&#x27;", "'")
    assert "Label key 'bad key' may only contain letters, digits, '_' and '-'." in html
    assert not LabelChange.objects.exists()


def test_admin_remove_label_action(superuser_client, contact):
    url = reverse("admin:contacts_contact_changelist")
    superuser_client.post(
        url, {"action": "remove_label", ACTION_CHECKBOX_NAME: [contact.pk], "key": "tier"}
    )
    assert dict(Label.objects.filter(contact=contact).values_list("key", "value")) == {
        "source": "facebook"
    }


def test_admin_audience_conditions_go_through_the_parser(superuser_client, account):
    url = reverse("admin:audiences_audience_add")
    bad = superuser_client.post(
        url, {"account": account.pk, "name": "X", "conditions": "tier IN [", "status": "active"}
    )
    assert "expected a value at column 10" in bad.content.decode()
    superuser_client.post(
        url, {"account": account.pk, "name": "X", "conditions": "tier=gold", "status": "active"}
    )
    assert Audience.objects.get().conditions == "label:tier = gold"


def test_admin_keeps_the_last_admin(superuser_client, admin_user, account):
    membership = Membership.objects.get(user=admin_user)
    url = reverse("admin:trackly_membership_change", args=[membership.pk])
    superuser_client.post(
        url, {"user": admin_user.pk, "account": account.pk, "role": "viewer"}, follow=True
    )
    membership.refresh_from_db()
    assert membership.role == "admin"
    superuser_client.post(
        reverse("admin:trackly_membership_delete", args=[membership.pk]), {"post": "yes"}
    )
    assert Membership.objects.filter(pk=membership.pk).exists()


@pytest.mark.parametrize(
    "name",
    [
        "admin:audiences_audience_changelist",
        "admin:audiences_labelchange_changelist",
        "admin:trackly_job_changelist",
    ],
)
def test_new_admin_pages_render(superuser_client, name, contact):
    assert superuser_client.get(reverse(name), {"q": "x"}).status_code == 200


def test_label_changes_and_jobs_are_read_only_in_the_admin(superuser_client):
    assert superuser_client.get(reverse("admin:audiences_labelchange_add")).status_code == 403
    assert superuser_client.get(reverse("admin:trackly_job_add")).status_code == 403


@pytest.mark.parametrize(
    ("action", "key", "value"),
    [
        ("add", "promo", ""),
        ("add", "promo", "   "),
        ("add", "bad key", "x"),
        ("add", "", "x"),
        ("add", "k" * 65, "x"),
        ("add", "k" * 201, "x"),
        ("add", "promo", "v" * 257),
        ("add", "promo", "two\nlines"),
        ("remove", "bad key", ""),
        ("remove", "", ""),
    ],
)
def test_admin_action_refuses_a_label_as_the_dashboard_does(
    superuser_client, editor_client, contact, action, key, value
):
    admin_response = superuser_client.post(
        reverse("admin:contacts_contact_changelist"),
        {
            "action": f"{action}_label",
            ACTION_CHECKBOX_NAME: [contact.pk],
            "key": key,
            "value": value,
        },
    )
    dashboard_response = editor_client.post(
        reverse("audiences:contacts_label_action", args=["acme"]),
        {"action": action, "scope": "ticked", "ids": [contact.pk], "key": key, "value": value},
    )

    errors = admin_response.context["form"].errors
    assert errors
    assert errors == dashboard_response.context["form"].errors
    assert not LabelChange.objects.exists()


def test_admin_add_label_action_asks_for_a_value(superuser_client, contact):
    response = superuser_client.post(
        reverse("admin:contacts_contact_changelist"),
        {"action": "add_label", ACTION_CHECKBOX_NAME: [contact.pk], "key": "promo", "value": ""},
    )

    assert response.context["form"].errors == {"value": ["This field is required."]}
    assert 'name="value"' in response.content.decode()
    remove = superuser_client.post(
        reverse("admin:contacts_contact_changelist"),
        {"action": "remove_label", ACTION_CHECKBOX_NAME: [contact.pk]},
    )
    assert 'name="key"' in remove.content.decode()
    assert 'name="value"' not in remove.content.decode()


def test_admin_action_undoes_a_change_through_the_same_job(superuser_client, contact):
    url = reverse("admin:contacts_contact_changelist")
    superuser_client.post(
        url,
        {"action": "add_label", ACTION_CHECKBOX_NAME: [contact.pk], "key": "tier", "value": "x"},
    )
    change = LabelChange.objects.get()
    assert Label.objects.get(contact=contact, key="tier").value == "x"
    audit = reverse("admin:audiences_labelchange_changelist")
    superuser_client.post(audit, {"action": "undo", ACTION_CHECKBOX_NAME: [change.pk]})
    assert Label.objects.get(contact=contact, key="tier").value == "gold"
    undo = LabelChange.objects.get(action="undo")
    assert undo.undoes_id == change.job_id
    assert undo.counts["labels"] == 1
    response = superuser_client.post(
        audit, {"action": "undo", ACTION_CHECKBOX_NAME: [change.pk]}, follow=True
    )
    assert "undo that undo instead" in response.content.decode()
