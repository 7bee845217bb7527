from dataclasses import asdict

import pytest
from django.urls import reverse

from audiences.models import LabelChange
from contacts.models import Label
from tests.factories import ContactFactory, SendingListFactory, label_contact

ACTION_URL = reverse("audiences:contacts_label_action", args=["acme"])


def labels_of(contact) -> dict[str, str]:
    return dict(Label.objects.filter(contact=contact).values_list("key", "value"))


@pytest.fixture
def table(sending_list, account):
    other_list = SendingListFactory(account=account, name="Other", phone_number="+14155550160")
    return {
        "gold1": label_contact(ContactFactory(sending_list=sending_list), {"tier": "gold"}),
        "gold2": label_contact(ContactFactory(sending_list=sending_list), {"tier": "gold"}),
        "silver": label_contact(ContactFactory(sending_list=sending_list), {"tier": "silver"}),
        "elsewhere": label_contact(ContactFactory(sending_list=other_list), {"tier": "gold"}),
    }


def test_the_contacts_table_offers_ticks_and_actions_to_editors_only(
    editor_client, viewer_client, sending_list, table
):
    page = reverse("contacts:list_contacts", args=["acme", sending_list.pk])
    html = editor_client.get(page).content.decode()
    assert f'name="ids" value="{table["gold1"].pk}" form="bulk-form"' in html
    assert 'id="bulk-form"' in html
    assert 'id="bulk-form"' not in viewer_client.get(page).content.decode()


def test_first_step_asks_for_the_label(editor_client, table):
    response = editor_client.post(
        ACTION_URL, {"action": "add", "scope": "ticked", "ids": [table["gold1"].pk]}
    )
    assert response.status_code == 200
    assert response.context["target"] == "1 ticked contacts"
    assert not response.context["form"].is_bound


def test_ticked_contacts_get_the_label(editor_client, table):
    data = {"action": "add", "scope": "ticked", "ids": [table["gold1"].pk, table["silver"].pk]}
    preview = editor_client.post(ACTION_URL, {**data, "key": "promo", "value": "yes"})
    assert asdict(preview.context["preview"]) == {
        "matching": 2,
        "gained": 2,
        "replaced": 0,
        "already": 0,
        "skipped": 0,
    }
    done = editor_client.post(ACTION_URL, {**data, "key": "promo", "value": "yes", "confirm": "1"})
    change = LabelChange.objects.get()
    assert done["Location"] == reverse("job_detail", args=["acme", change.job_id])
    assert labels_of(table["gold1"])["promo"] == "yes"
    assert labels_of(table["silver"])["promo"] == "yes"
    assert "promo" not in labels_of(table["gold2"])


def test_all_contacts_matching_the_filter_not_only_the_page(editor_client, sending_list, table):
    data = {
        "action": "remove",
        "scope": "all",
        "list_id": sending_list.pk,
        "filter_key": "tier",
        "filter_value": "gold",
        "key": "tier",
    }
    preview = editor_client.post(ACTION_URL, data)
    assert asdict(preview.context["preview"]) == {"matching": 2, "removed": 2}
    assert preview.context["target"] == "all contacts on Main matching key “tier”, value “gold”"
    editor_client.post(ACTION_URL, {**data, "confirm": "1"})
    assert labels_of(table["gold1"]) == {}
    assert labels_of(table["silver"]) == {"tier": "silver"}
    assert labels_of(table["elsewhere"]) == {"tier": "gold"}
    assert LabelChange.objects.get().selection == {
        "contacts": {"list_id": str(sending_list.pk), "q": "", "key": "tier", "value": "gold"}
    }


def test_another_accounts_contacts_are_never_touched(
    editor_client, outsider_client, other_contact, table
):
    data = {
        "action": "add",
        "scope": "ticked",
        "ids": [other_contact.pk],
        "key": "x",
        "value": "y",
        "confirm": "1",
    }
    editor_client.post(ACTION_URL, data)
    assert "x" not in labels_of(other_contact)
    assert LabelChange.objects.get().counts["matching"] == 0
    theirs = reverse("audiences:contacts_label_action", args=["globex"])
    outsider_client.post(theirs, {**data, "ids": [table["gold1"].pk]})
    assert "x" not in labels_of(table["gold1"])
    # A list of another account is not found.
    other_list = other_contact.sending_list_id
    response = editor_client.post(
        ACTION_URL, {"action": "add", "scope": "all", "list_id": other_list}
    )
    assert response.status_code == 404


def test_viewers_cannot_and_get_is_refused(viewer_client, editor_client, table):
    data = {
        "action": "add",
        "scope": "ticked",
        "ids": [table["gold1"].pk],
        "key": "x",
        "value": "y",
        "confirm": "1",
    }
    assert viewer_client.post(ACTION_URL, data).status_code == 403
    assert editor_client.get(ACTION_URL).status_code == 405
    assert "x" not in labels_of(table["gold1"])
