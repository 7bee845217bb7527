"""The Django admin for accounts, sending lists, contacts and labels: pages, and the same rules
as the dashboard (one phone normaliser, one label validator, one label write path)."""

from unittest import mock

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from contacts import services
from contacts.models import Contact, Label
from tests.factories import (
    AccountFactory,
    ContactFactory,
    MembershipFactory,
    SendingListFactory,
    UserFactory,
)
from trackly.models import Role


@pytest.fixture
def membership(account, admin_user):
    return admin_user.memberships.get(account=account)


@pytest.fixture
def label(contact):
    return contact.labels.get(key="source")


def admin_url(model: str, view: str, *args) -> str:
    app = "trackly" if model in {"account", "membership"} else "contacts"
    return reverse(f"admin:{app}_{model}_{view}", args=args)


def labels_of(contact) -> dict[str, str]:
    return dict(Label.objects.filter(contact=contact).values_list("key", "value"))


def contact_form(contact, rows, **fields) -> dict:
    """POST data for a contact's change page; `rows` are (label or None, key, value, delete)."""
    data = {
        "phone_number": contact.phone_number,
        "status": contact.status,
        "labels-TOTAL_FORMS": len(rows),
        "labels-INITIAL_FORMS": sum(1 for row in rows if row[0] is not None),
        "labels-MIN_NUM_FORMS": 0,
        "labels-MAX_NUM_FORMS": 1000,
        "_save": "Save",
    }
    for index, (label, key, value, delete) in enumerate(rows):
        data[f"labels-{index}-id"] = label.pk if label is not None else ""
        data[f"labels-{index}-contact"] = contact.pk or ""
        data[f"labels-{index}-key"] = key
        data[f"labels-{index}-value"] = value
        if delete:
            data[f"labels-{index}-DELETE"] = "on"
    return data | fields


def stored_rows(contact) -> list:
    return [(label, label.key, label.value, False) for label in contact.labels.order_by("key")]


def label_formset(response):
    return response.context["inline_admin_formsets"][0].formset


# Pages


@pytest.mark.parametrize(
    ("model", "query", "shown"),
    [
        ("account", {"q": "acme"}, "Acme Shoes"),
        ("membership", {"q": "acme", "role__exact": "admin"}, "admin@acme.test"),
        ("sendinglist", {"q": "Main", "status__exact": "active"}, "+14155550100"),
        ("contact", {"q": "4155551234", "status__exact": "subscribed"}, "+14155551234"),
        ("label", {"q": "facebook"}, "facebook"),
    ],
)
def test_changelists_search_and_filter(
    superuser_client, membership, contact, other_contact, model, query, shown
):
    response = superuser_client.get(admin_url(model, "changelist"), query)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert shown in response.text


def test_contact_changelist_filters_by_account(superuser_client, contact, other_contact, account):
    response = superuser_client.get(
        admin_url("contact", "changelist"), {"sending_list__account__id__exact": account.pk}
    )
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [contact]


def test_contact_search_finds_a_number_however_it_is_typed(superuser_client, contact):
    ContactFactory(sending_list=contact.sending_list, phone_number="+14155551235")
    response = superuser_client.get(admin_url("contact", "changelist"), {"q": "(415) 555-1234"})
    assert list(response.context["cl"].result_list) == [contact]


def test_change_pages_render(superuser_client, membership, contact, label):
    pages = [
        admin_url("account", "change", membership.account_id),
        admin_url("membership", "change", membership.pk),
        admin_url("sendinglist", "change", contact.sending_list_id),
        admin_url("contact", "change", contact.pk),
        admin_url("label", "change", label.pk),
    ]
    for page in pages:
        assert superuser_client.get(page).status_code == 200, page


def test_add_pages_render(superuser_client):
    for model in ["account", "membership", "sendinglist", "contact"]:
        assert superuser_client.get(admin_url(model, "add")).status_code == 200, model


def test_adding_a_contact_without_a_list_says_so(superuser_client):
    response = superuser_client.post(
        admin_url("contact", "add"), {"phone_number": "+14155550100", "status": "subscribed"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "sending_list": ["This field is required."]
    }


def test_contact_change_page_shows_its_labels_in_key_order(superuser_client, contact):
    response = superuser_client.get(admin_url("contact", "change", contact.pk))
    keys = [form.instance.key for form in label_formset(response).initial_forms]
    assert keys == ["source", "tier"]


def test_staff_without_superuser_rights_cannot_open_contacts(contact):
    client = Client()
    client.force_login(UserFactory(email="staff@trackly.test", is_staff=True))
    assert client.get(admin_url("contact", "changelist")).status_code == 403


def test_account_admin_shows_members_inline(superuser_client, membership):
    response = superuser_client.get(admin_url("account", "change", membership.account_id))
    members = response.context["inline_admin_formsets"][0].formset
    assert [form.instance for form in members.initial_forms] == [membership]


# Labels: the one validator and the one write path


def test_an_invalid_key_shows_the_validators_message_and_saves_nothing(superuser_client, contact):
    rows = [*stored_rows(contact), (None, "bad key", "x", False)]
    response = superuser_client.post(
        admin_url("contact", "change", contact.pk), contact_form(contact, rows)
    )
    message = "Label key 'bad key' may only contain letters, digits, '_' and '-'."
    assert response.status_code == 200
    assert label_formset(response).errors[2] == {"key": [message]}
    assert escape(message) in response.text
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_an_invalid_value_shows_the_validators_message(superuser_client, contact):
    rows = [*stored_rows(contact), (None, "note", "a\tb", False)]
    response = superuser_client.post(
        admin_url("contact", "change", contact.pk), contact_form(contact, rows)
    )
    assert label_formset(response).errors[2] == {
        "value": ["Label value contains the control character U+0009."]
    }
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_a_long_key_gets_the_validators_message(superuser_client, contact):
    rows = [*stored_rows(contact), (None, "k" * 65, "x", False)]
    response = superuser_client.post(
        admin_url("contact", "change", contact.pk), contact_form(contact, rows)
    )
    assert label_formset(response).errors[2] == {
        "key": ["Label key is 65 characters long; the limit is 64."]
    }


def test_a_key_given_twice_is_rejected(superuser_client, contact):
    rows = [*stored_rows(contact), (None, "source", "google", False)]
    response = superuser_client.post(
        admin_url("contact", "change", contact.pk), contact_form(contact, rows)
    )
    assert label_formset(response).errors[2] == {"key": ["Label key 'source' is given twice."]}
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_fifty_one_labels_are_rejected(superuser_client, contact):
    new_rows = [(None, f"key{index}", "x", False) for index in range(49)]
    response = superuser_client.post(
        admin_url("contact", "change", contact.pk),
        contact_form(contact, [*stored_rows(contact), *new_rows]),
    )
    assert response.status_code == 200
    assert label_formset(response).non_form_errors() == [
        "A contact can have at most 50 labels; this would make 51."
    ]
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_fifty_labels_are_accepted_and_deleted_rows_do_not_count(superuser_client, contact):
    new_rows = [(None, f"key{index}", "x", False) for index in range(49)]
    source, tier = stored_rows(contact)
    rows = [source, (tier[0], "tier", "gold", True), *new_rows]
    response = superuser_client.post(
        admin_url("contact", "change", contact.pk), contact_form(contact, rows)
    )
    assert response.status_code == 302
    assert len(labels_of(contact)) == 50
    assert "tier" not in labels_of(contact)


def test_a_valid_edit_is_written_by_the_service(superuser_client, contact):
    source, tier = stored_rows(contact)
    rows = [
        (source[0], "source", "facebook", True),
        (tier[0], "tier", " silver ", False),
        (None, "cohort", "2024-Q1", False),
    ]
    with mock.patch.object(
        services, "contact_labels_replace", wraps=services.contact_labels_replace
    ) as replace:
        response = superuser_client.post(
            admin_url("contact", "change", contact.pk), contact_form(contact, rows)
        )
    assert response.status_code == 302
    replace.assert_called_once_with(contact=contact, labels={"tier": "silver", "cohort": "2024-Q1"})
    assert labels_of(contact) == {"tier": "silver", "cohort": "2024-Q1"}
    entry = LogEntry.objects.get(object_id=str(contact.pk))
    assert entry.get_change_message() == (
        "Added label “cohort=2024-Q1”. Changed value for label “tier=silver”. "
        "Deleted label “source=facebook”."
    )


def test_keys_can_be_swapped_in_one_save(superuser_client, contact):
    source, tier = stored_rows(contact)
    rows = [(source[0], "tier", "facebook", False), (tier[0], "source", "gold", False)]
    response = superuser_client.post(
        admin_url("contact", "change", contact.pk), contact_form(contact, rows)
    )
    assert response.status_code == 302
    assert labels_of(contact) == {"tier": "facebook", "source": "gold"}


def test_an_empty_extra_row_is_ignored(superuser_client, contact):
    rows = [*stored_rows(contact), (None, "", "", False)]
    response = superuser_client.post(
        admin_url("contact", "change", contact.pk), contact_form(contact, rows)
    )
    assert response.status_code == 302
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_label_admin_is_read_only(superuser_client, label):
    assert superuser_client.get(admin_url("label", "add")).status_code == 403
    response = superuser_client.post(
        admin_url("label", "change", label.pk), {"key": "source", "value": "google"}
    )
    assert response.status_code == 403
    assert superuser_client.post(admin_url("label", "delete", label.pk)).status_code == 403
    assert Label.objects.get(pk=label.pk).value == "facebook"


def test_label_admin_has_no_add_permission(superuser, rf):
    from django.contrib.admin import site

    request = rf.get("/")
    request.user = superuser
    label_admin = site.get_model_admin(Label)
    assert label_admin.has_add_permission(request) is False
    assert label_admin.has_change_permission(request) is False
    assert label_admin.has_view_permission(request) is True


# Contacts: the one phone normaliser, the account from the list


def test_a_typed_phone_number_is_stored_in_e164(superuser_client, sending_list):
    data = contact_form(
        Contact(phone_number="(415) 555-1234", status="subscribed"),
        [(None, "source", "facebook", False)],
        sending_list=sending_list.pk,
    )
    response = superuser_client.post(admin_url("contact", "add"), data)
    assert response.status_code == 302
    contact = Contact.objects.get()
    assert contact.phone_number == "+14155551234"
    assert contact.account == sending_list.account
    assert labels_of(contact) == {"source": "facebook"}


def test_the_phone_is_read_with_the_lists_account_region(superuser_client):
    uk_list = SendingListFactory(account=AccountFactory(default_region="GB"))
    data = contact_form(
        Contact(phone_number="020 7946 0018", status="subscribed"), [], sending_list=uk_list.pk
    )
    superuser_client.post(admin_url("contact", "add"), data)
    assert Contact.objects.get().phone_number == "+442079460018"


def test_an_invalid_phone_number_is_refused(superuser_client, sending_list):
    data = contact_form(
        Contact(phone_number="12", status="subscribed"), [], sending_list=sending_list.pk
    )
    response = superuser_client.post(admin_url("contact", "add"), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "phone_number": ["'12' is not a valid phone number."]
    }
    assert not Contact.objects.exists()


def test_a_number_already_on_the_list_is_refused_on_change(superuser_client, contact):
    other = ContactFactory(sending_list=contact.sending_list, phone_number="+14155551235")
    data = contact_form(other, [], phone_number="415 555 1234")
    response = superuser_client.post(admin_url("contact", "change", other.pk), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "__all__": ["Contact with this Sending list and Phone number already exists."]
    }


def test_a_contact_stays_on_its_list(superuser_client, contact, other_contact):
    data = contact_form(contact, stored_rows(contact), sending_list=other_contact.sending_list_id)
    response = superuser_client.post(admin_url("contact", "change", contact.pk), data)
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.sending_list.name == "Main"
    assert contact.account.slug == "acme"


def test_unsubscribing_in_the_admin_records_when(superuser_client, contact):
    data = contact_form(contact, stored_rows(contact), status="unsubscribed")
    superuser_client.post(admin_url("contact", "change", contact.pk), data)
    contact.refresh_from_db()
    assert contact.status == "unsubscribed"
    assert contact.unsubscribed_at is not None
    data = contact_form(contact, stored_rows(contact), status="subscribed")
    superuser_client.post(admin_url("contact", "change", contact.pk), data)
    contact.refresh_from_db()
    assert (contact.status, contact.unsubscribed_at) == ("subscribed", None)


# Sending lists and members


def test_a_sending_list_number_is_normalised(superuser_client, account):
    response = superuser_client.post(
        admin_url("sendinglist", "add"),
        {
            "account": account.pk,
            "name": "Promos",
            "phone_number": "(415) 555-0177",
            "status": "active",
        },
    )
    assert response.status_code == 302
    assert account.sending_lists.get(name="Promos").phone_number == "+14155550177"


def test_a_sending_list_name_is_unique_in_its_account_on_change(superuser_client, sending_list):
    promos = SendingListFactory(account=sending_list.account, name="Promos")
    response = superuser_client.post(
        admin_url("sendinglist", "change", promos.pk),
        {"name": "Main", "phone_number": promos.phone_number, "status": "active"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "name": ["A sending list with this name already exists."]
    }


def test_a_membership_role_is_changed_in_the_admin(superuser_client, membership):
    # Another admin, so that the account keeps one.
    MembershipFactory(account=membership.account, role=Role.ADMIN)
    response = superuser_client.post(
        admin_url("membership", "change", membership.pk),
        {"user": membership.user_id, "account": membership.account_id, "role": Role.VIEWER},
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_membership_autocomplete_finds_users_by_email(superuser_client, admin_user):
    MembershipFactory(user=UserFactory(email="someone@else.test"))
    response = superuser_client.get(
        reverse("admin:autocomplete"),
        {
            "term": "admin@acme",
            "app_label": "trackly",
            "model_name": "membership",
            "field_name": "user",
        },
    )
    assert response.status_code == 200
    assert [item["text"] for item in response.json()["results"]] == ["admin@acme.test"]
