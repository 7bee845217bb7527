"""An archived list offers no Import CSV, Add contact or bulk actions, and every face refuses
them with the same message."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from contacts import importing, services
from contacts.models import Contact, SendingList

REFUSED = (
    "“Main” is archived: restore it (List settings) to add contacts, import a file or change "
    "labels in bulk."
)


@pytest.fixture
def archived(sending_list, contact):
    sending_list.status = SendingList.Status.ARCHIVED
    sending_list.save()
    return sending_list


def test_the_archived_lists_page_offers_no_import_add_or_bulk_actions(editor_client, archived):
    response = editor_client.get(reverse("contacts:list_contacts", args=["acme", archived.pk]))
    html = response.content.decode()
    assert "Import CSV" not in html
    assert "Add contact" not in html
    assert 'id="bulk-form"' not in html
    assert 'name="ids"' not in html
    assert "This list is archived: it takes no new contacts, imports or bulk label changes." in html


def test_an_active_lists_page_still_offers_them(editor_client, sending_list, contact):
    html = editor_client.get(
        reverse("contacts:list_contacts", args=["acme", sending_list.pk])
    ).content.decode()
    assert "Import CSV" in html
    assert "Add contact" in html
    assert 'id="bulk-form"' in html
    assert 'data-testid="archived-note"' not in html


@pytest.mark.parametrize("name", ["contacts:contact_new", "imports:import_new"])
def test_add_contact_and_import_pages_send_back_with_the_reason(editor_client, archived, name):
    list_url = reverse("contacts:list_contacts", args=["acme", archived.pk])
    response = editor_client.get(reverse(name, args=["acme", archived.pk]), follow=True)
    assert response.redirect_chain == [(list_url, 302)]
    assert [str(m) for m in response.context["messages"]] == [REFUSED]


def test_posting_a_new_contact_to_an_archived_list_adds_nothing(editor_client, archived):
    response = editor_client.post(
        reverse("contacts:contact_new", args=["acme", archived.pk]),
        {"phone_number": "+14155559999", "save": "1", "key": "", "value": ""},
    )
    assert response.status_code == 302
    assert Contact.objects.count() == 1


def test_a_bulk_action_on_an_archived_lists_contacts_is_refused(editor_client, archived, contact):
    response = editor_client.post(
        reverse("audiences:contacts_label_action", args=["acme"]),
        {"action": "add", "scope": "ticked", "ids": [contact.pk], "list_id": archived.pk},
    )
    assert response.status_code == 200
    assert response.context["problem"] == REFUSED


def test_the_services_refuse_with_the_same_code_and_message(archived, account, admin_user):
    with pytest.raises(ValidationError) as created:
        services.contact_create(sending_list=archived, phone_number="+14155559999", labels={})
    with pytest.raises(ValidationError) as started:
        importing.import_start(
            account=account,
            user=admin_user,
            sending_list=archived,
            upload="x",
            file_name="x.csv",
            dry_run=True,
        )
    for error in (created.value, started.value):
        assert (error.code, error.messages) == ("list_archived", [REFUSED])
