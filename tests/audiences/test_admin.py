import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from audiences.models import Audience, AudienceSendingList, LabelChange
from contacts.models import Label, LabelKeyCount, LabelValueCount
from tests.factories import ContactFactory, UserFactory, label_contact
from trackly.models import Job, Membership


def staff_client(*codenames: str) -> Client:
    """A client logged in as staff with only these permissions."""
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


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
        "admin:contacts_labelkeycount_changelist",
        "admin:contacts_labelvaluecount_changelist",
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
    asked = {"action": "undo", ACTION_CHECKBOX_NAME: [change.pk]}
    # First the review, changing nothing.
    review = superuser_client.post(audit, asked).content.decode()
    cells = dict(re.findall(r'data-review="(\w+)">([^<]*)<', review))
    assert cells == {
        "labels": "1",
        "contacts": "1",
        "erased": "0",
        "changed_since": "0",
        "skipped": "0",
        "rewrites": "none",
    }
    assert not LabelChange.objects.filter(action="undo").exists()
    superuser_client.post(audit, {**asked, "confirm": "1"})
    assert Label.objects.get(contact=contact, key="tier").value == "gold"
    undo = LabelChange.objects.get(action="undo")
    assert undo.undoes_id == change.job_id
    assert undo.counts["labels"] == 1
    response = superuser_client.post(audit, asked, follow=True)
    assert "undo that undo instead" in response.content.decode()
    assert LabelChange.objects.filter(action="undo").count() == 1


def test_staff_who_may_only_view_the_audit_log_cannot_undo(superuser_client, contact):
    superuser_client.post(
        reverse("admin:contacts_contact_changelist"),
        {"action": "add_label", ACTION_CHECKBOX_NAME: [contact.pk], "key": "tier", "value": "x"},
    )
    change = LabelChange.objects.get()
    client = staff_client("view_labelchange")
    audit = reverse("admin:audiences_labelchange_changelist")
    listed = client.get(audit)
    assert listed.status_code == 200
    assert 'value="undo"' not in listed.content.decode()
    asked = {"action": "undo", ACTION_CHECKBOX_NAME: [change.pk], "confirm": "1"}
    client.post(audit, asked)
    assert not LabelChange.objects.filter(action="undo").exists()
    assert Label.objects.get(contact=contact, key="tier").value == "x"


# Rename, merge and delete from the label count lists ------------------------------------------


def labelled(sending_list, *label_sets: dict[str, str]) -> list:
    return [
        label_contact(ContactFactory(sending_list=sending_list), labels) for labels in label_sets
    ]


def review_of(response) -> dict[str, str]:
    """The review's counts as the page shows them."""
    html = response.content.decode()
    return dict(re.findall(r'data-review="(\w+)">([\d,]+)<', html))


def labels_by_key(key: str) -> list[tuple[int, str]]:
    return sorted(Label.objects.filter(key=key).values_list("contact_id", "value"))


def test_admin_renames_a_key_after_a_review_with_exact_counts(
    superuser_client, account, sending_list, other_contact
):
    first, second, third = labelled(
        sending_list, {"src": "fb"}, {"src": "google", "source": "ads"}, {"src": "fb"}
    )
    audience = Audience.objects.create(account=account, name="From fb", conditions="label:src = fb")
    url = reverse("admin:contacts_labelkeycount_changelist")
    row = LabelKeyCount.objects.get(account=account, key="src")
    selected = {"action": "rename_key", ACTION_CHECKBOX_NAME: [row.pk]}
    asked = superuser_client.post(url, selected)
    assert asked.status_code == 200
    assert 'name="new_key"' in asked.content.decode()
    bad = superuser_client.post(url, {**selected, "new_key": "src", "review": "1"})
    assert "The new key is the key itself: there is nothing to rename." in bad.content.decode()
    review = superuser_client.post(url, {**selected, "new_key": "source", "review": "1"})
    assert review_of(review) == {"contacts": "3", "kept": "1", "skipped": "0"}
    html = review.content.decode()
    assert f'name="rewrite" value="{audience.pk}" checked' in html
    assert "<code>label:src = fb</code> → <code>label:source = fb</code>" in html
    assert not LabelChange.objects.exists()
    superuser_client.post(
        url, {**selected, "new_key": "source", "confirm": "1", "rewrite": [audience.pk]}
    )
    change = LabelChange.objects.get()
    assert (change.action, change.key, change.new_key) == ("rename_key", "src", "source")
    assert change.job.status == Job.Status.SUCCEEDED
    assert change.counts["contacts"] == 3
    assert labels_by_key("src") == []
    # The second contact's own `source` stays; another account's labels are not touched.
    assert labels_by_key("source") == sorted(
        [(first.pk, "fb"), (second.pk, "ads"), (third.pk, "fb"), (other_contact.pk, "google")]
    )
    audience.refresh_from_db()
    assert audience.conditions == "label:source = fb"


def test_admin_merges_the_selected_values_into_one(superuser_client, account, sending_list):
    contacts = labelled(
        sending_list, {"source": "Facebook"}, {"source": "FB"}, {"source": "FB"}, {"source": "x"}
    )
    url = reverse("admin:contacts_labelvaluecount_changelist")
    rows = LabelValueCount.objects.filter(
        account=account, key="source", value__in=["FB", "Facebook"]
    )
    selected = {"action": "merge_values", ACTION_CHECKBOX_NAME: [row.pk for row in rows]}
    review = superuser_client.post(url, {**selected, "value": "facebook", "review": "1"})
    assert review_of(review) == {"contacts": "3", "skipped": "0"}
    assert (
        "<code>FB</code>, <code>Facebook</code> of <code>source</code>" in review.content.decode()
    )
    superuser_client.post(url, {**selected, "value": "facebook", "confirm": "1"})
    assert LabelChange.objects.get().job.status == Job.Status.SUCCEEDED
    assert labels_by_key("source") == sorted(
        [(c.pk, "facebook") for c in contacts[:3]] + [(contacts[3].pk, "x")]
    )


def test_admin_merge_refuses_values_of_different_keys(superuser_client, account, sending_list):
    labelled(sending_list, {"source": "FB", "tier": "gold"})
    rows = LabelValueCount.objects.filter(account=account)
    response = superuser_client.post(
        reverse("admin:contacts_labelvaluecount_changelist"),
        {"action": "merge_values", ACTION_CHECKBOX_NAME: [row.pk for row in rows]},
        follow=True,
    )
    assert "Choose values of one key of one account to merge." in response.content.decode()
    assert not LabelChange.objects.exists()


def test_admin_deletes_a_value_and_a_key(superuser_client, account, sending_list):
    contacts = labelled(
        sending_list, {"source": "FB", "tier": "gold"}, {"source": "x"}, {"tier": "silver"}
    )
    values = reverse("admin:contacts_labelvaluecount_changelist")
    row = LabelValueCount.objects.get(account=account, key="source", value="FB")
    selected = {"action": "delete_value", ACTION_CHECKBOX_NAME: [row.pk]}
    review = superuser_client.post(values, selected)
    assert review_of(review) == {"contacts": "1", "skipped": "0"}
    superuser_client.post(values, {**selected, "confirm": "1"})
    assert labels_by_key("source") == [(contacts[1].pk, "x")]
    keys = reverse("admin:contacts_labelkeycount_changelist")
    row = LabelKeyCount.objects.get(account=account, key="tier")
    selected = {"action": "delete_key", ACTION_CHECKBOX_NAME: [row.pk]}
    assert review_of(superuser_client.post(keys, selected)) == {"contacts": "2", "skipped": "0"}
    superuser_client.post(keys, {**selected, "confirm": "1"})
    assert labels_by_key("tier") == []
    assert list(LabelChange.objects.order_by("pk").values_list("action", "job__status")) == [
        ("delete_value", "succeeded"),
        ("delete_key", "succeeded"),
    ]


def test_staff_who_may_only_view_labels_cannot_edit_them(account, sending_list):
    labelled(sending_list, {"source": "FB"})
    client = staff_client("view_labelkeycount", "view_labelvaluecount")
    keys = reverse("admin:contacts_labelkeycount_changelist")
    listed = client.get(keys)
    assert listed.status_code == 200
    assert "rename_key" not in listed.content.decode()
    row = LabelKeyCount.objects.get(account=account, key="source")
    client.post(keys, {"action": "delete_key", ACTION_CHECKBOX_NAME: [row.pk], "confirm": "1"})
    values = reverse("admin:contacts_labelvaluecount_changelist")
    row = LabelValueCount.objects.get(account=account, key="source")
    client.post(values, {"action": "delete_value", ACTION_CHECKBOX_NAME: [row.pk], "confirm": "1"})
    assert not LabelChange.objects.exists()
    assert labels_by_key("source") != []


@pytest.fixture
def used_audience(account):
    vips = Audience.objects.create(account=account, name="VIPs", conditions="tier = gold")
    Audience.objects.create(account=account, name="Users", conditions=f"IN AUDIENCE #{vips.pk}")
    return vips


IN_USE = '"VIPs" cannot be deleted: IN AUDIENCE refers to it in "Users".'


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_admin_refuses_to_delete_an_audience_in_use(superuser_client, used_audience):
    url = reverse("admin:audiences_audience_delete", args=[used_audience.pk])
    asked = superuser_client.get(url, follow=True)
    assert asked.redirect_chain == [
        (reverse("admin:audiences_audience_change", args=[used_audience.pk]), 302)
    ]
    assert _messages(asked) == [IN_USE]
    confirmed = superuser_client.post(url, {"post": "yes"}, follow=True)
    assert _messages(confirmed) == [IN_USE]
    assert Audience.objects.filter(pk=used_audience.pk).exists()


def test_admin_deletes_an_audience_nobody_uses(superuser_client, account, used_audience):
    users = Audience.objects.get(name="Users")
    url = reverse("admin:audiences_audience_delete", args=[users.pk])
    assert superuser_client.get(url).status_code == 200
    superuser_client.post(url, {"post": "yes"})
    assert list(Audience.objects.values_list("name", flat=True)) == ["VIPs"]


def test_admin_bulk_delete_refuses_when_an_audience_is_in_use(superuser_client, used_audience):
    url = reverse("admin:audiences_audience_changelist")
    ids = list(Audience.objects.values_list("pk", flat=True))
    for step in ({}, {"post": "yes"}):
        response = superuser_client.post(
            url, {"action": "delete_selected", ACTION_CHECKBOX_NAME: ids, **step}, follow=True
        )
        assert _messages(response) == [IN_USE]
    assert Audience.objects.count() == 2


def test_admin_bulk_delete_of_unused_audiences_deletes_them(
    superuser_client, account, used_audience
):
    other = Audience.objects.create(account=account, name="Other", conditions="tier = silver")
    users = Audience.objects.get(name="Users")
    url = reverse("admin:audiences_audience_changelist")
    ids = [other.pk, users.pk]
    asked = superuser_client.post(url, {"action": "delete_selected", ACTION_CHECKBOX_NAME: ids})
    assert b"Are you sure" in asked.content
    superuser_client.post(
        url, {"action": "delete_selected", ACTION_CHECKBOX_NAME: ids, "post": "yes"}
    )
    assert list(Audience.objects.values_list("name", flat=True)) == ["VIPs"]


def test_admin_refuses_to_archive_an_audience_in_use(superuser_client, account, used_audience):
    url = reverse("admin:audiences_audience_change", args=[used_audience.pk])
    response = superuser_client.post(
        url,
        {
            "account": account.pk,
            "name": "VIPs",
            "description": "",
            "conditions": "tier = gold",
            "status": "archived",
        },
    )
    assert response.context["adminform"].form.errors["status"] == [
        '"VIPs" cannot be archived: IN AUDIENCE refers to it in "Users".'
    ]
    used_audience.refresh_from_db()
    assert used_audience.status == "active"


def test_admin_sets_an_audience_s_lists_each_row_with_the_account(
    superuser_client, account, sending_list
):
    page = superuser_client.get(reverse("admin:audiences_audience_add"))
    assert 'name="sending_lists"' in page.content.decode()
    superuser_client.post(
        reverse("admin:audiences_audience_add"),
        {
            "account": account.pk,
            "name": "Main only",
            "conditions": "",
            "status": "active",
            "sending_lists": [sending_list.pk],
        },
    )
    audience = Audience.objects.get()
    rows = AudienceSendingList.objects.filter(audience=audience)
    assert list(rows.values_list("sendinglist_id", "account_id")) == [(sending_list.pk, account.pk)]
