from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.labels import check_label_count
from contacts.models import Contact, Label, SendingList
from tests.factories import ContactFactory, SendingListFactory, label_contact

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, *args) -> str:
    return reverse(f"contacts:{name}", args=args)


def labels_of(contact) -> dict[str, str]:
    return dict(Label.objects.filter(contact=contact).values_list("key", "value"))


# Sending Lists


def test_sending_lists_show_subscribed_counts(viewer_client, sending_list, contact, account):
    ContactFactory(sending_list=sending_list, status="unsubscribed", unsubscribed_at=timezone.now())
    SendingListFactory(account=account, name="Empty", phone_number="+14155550101")
    response = viewer_client.get(url("sending_lists", "acme"))
    assert response.status_code == 200
    counts = {row.name: row.contact_count for row in response.context["lists"]}
    assert counts == {"Main": 1, "Empty": 0}
    assert b'data-testid="current-account">Acme Shoes<' in response.content
    assert b"New sending list" not in response.content


def test_sending_lists_page_takes_a_fixed_number_of_queries(
    admin_client, account, django_assert_max_num_queries
):
    for index in range(5):
        SendingListFactory(account=account, phone_number=f"+1415555020{index}")
    with django_assert_max_num_queries(8):
        admin_client.get(url("sending_lists", "acme"))


def test_admin_creates_a_sending_list(admin_client, account):
    response = admin_client.post(
        url("sending_lists", "acme"), {"name": "Promos", "phone_number": "(415) 555-0177"}
    )
    created = SendingList.objects.get(account=account, name="Promos")
    assert created.phone_number == "+14155550177"
    assert response.status_code == 302
    assert response["Location"] == url("list_contacts", "acme", created.pk)


def test_creating_a_list_through_htmx_redirects_the_client(admin_client, account):
    response = admin_client.post(
        url("sending_lists", "acme"), {"name": "Promos", "phone_number": "4155550177"}, **HTMX
    )
    created = SendingList.objects.get(account=account, name="Promos")
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("list_contacts", "acme", created.pk)


def test_an_invalid_new_list_renders_the_form_fragment_with_errors(admin_client, sending_list):
    response = admin_client.post(
        url("sending_lists", "acme"), {"name": "Main", "phone_number": "bad"}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="new-list">')
    assert "A sending list with this name already exists." in html
    assert "&#x27;bad&#x27; is not a valid phone number." in html
    assert SendingList.objects.count() == 1


def test_viewer_and_editor_cannot_create_lists(viewer_client, editor_client, account):
    data = {"name": "Promos", "phone_number": "4155550177"}
    assert viewer_client.post(url("sending_lists", "acme"), data).status_code == 403
    assert editor_client.post(url("sending_lists", "acme"), data).status_code == 403
    assert not SendingList.objects.filter(name="Promos").exists()


def test_outsider_gets_404_for_the_account(outsider_client, sending_list):
    assert outsider_client.get(url("sending_lists", "acme")).status_code == 404
    assert outsider_client.get(url("list_contacts", "acme", sending_list.pk)).status_code == 404


def test_sending_lists_refuse_other_methods(admin_client, account):
    assert admin_client.put(url("sending_lists", "acme")).status_code == 405


def test_anonymous_users_are_sent_to_the_login_page(client, account):
    response = client.get(url("sending_lists", "acme"))
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/a/acme/lists/"


def test_admin_renames_and_archives_a_list(admin_client, sending_list):
    admin_client.post(url("sending_list_rename", "acme", sending_list.pk), {"name": "Renamed"})
    asked = admin_client.post(
        url("sending_list_archive", "acme", sending_list.pk), {"archive": "1"}
    )
    assert asked.context["title"] == "Archive “Renamed”?"
    assert asked.context["carry"] == [("archive", "1")]
    sending_list.refresh_from_db()
    assert sending_list.status == "active"
    admin_client.post(
        url("sending_list_archive", "acme", sending_list.pk), {"archive": "1", "confirmed": "1"}
    )
    sending_list.refresh_from_db()
    assert (sending_list.name, sending_list.status) == ("Renamed", "archived")
    admin_client.post(url("sending_list_archive", "acme", sending_list.pk), {"archive": "0"})
    sending_list.refresh_from_db()
    assert sending_list.status == "active"


def test_renaming_to_a_taken_name_changes_nothing(admin_client, sending_list, account):
    SendingListFactory(account=account, name="Other", phone_number="+14155550111")
    response = admin_client.post(
        url("sending_list_rename", "acme", sending_list.pk), {"name": "Other"}, follow=True
    )
    assert "A sending list with this name already exists." in response.content.decode()
    sending_list.refresh_from_db()
    assert sending_list.name == "Main"


@pytest.mark.parametrize("name", ["sending_list_rename", "sending_list_archive"])
def test_list_settings_are_admin_only_and_post_only(
    name, editor_client, admin_client, outsider_client, sending_list
):
    assert editor_client.post(url(name, "acme", sending_list.pk), {"name": "x"}).status_code == 403
    assert admin_client.get(url(name, "acme", sending_list.pk)).status_code == 405
    assert outsider_client.post(url(name, "acme", sending_list.pk)).status_code == 404
    # An outsider's own account does not reach another account's list either.
    assert outsider_client.post(url(name, "globex", sending_list.pk)).status_code == 404
    sending_list.refresh_from_db()
    assert (sending_list.name, sending_list.status) == ("Main", "active")


# List > Contacts


@pytest.fixture
def many_contacts(sending_list):
    contacts = [
        ContactFactory(sending_list=sending_list, phone_number=f"+1415555{2000 + i:04d}")
        for i in range(120)
    ]
    for index, contact in enumerate(contacts):
        label_contact(contact, {"tier": "gold" if index % 3 == 0 else "silver"})
    return contacts


def phones(response) -> list[str]:
    return [contact.phone_number for contact in response.context["contacts"]]


def test_contacts_are_paged_by_phone_with_a_keyset(viewer_client, sending_list, many_contacts):
    page_url = url("list_contacts", "acme", sending_list.pk)
    first = viewer_client.get(page_url)
    assert phones(first) == [f"+1415555{2000 + i:04d}" for i in range(50)]
    assert first.context["page"].previous_cursor == ""
    second = viewer_client.get(page_url, {"cursor": first.context["page"].next_cursor})
    assert phones(second) == [f"+1415555{2050 + i:04d}" for i in range(50)]
    last = viewer_client.get(page_url, {"cursor": second.context["page"].next_cursor})
    assert phones(last) == [f"+1415555{2100 + i:04d}" for i in range(20)]
    assert last.context["page"].next_cursor == ""
    back = viewer_client.get(page_url, {"cursor": last.context["page"].previous_cursor})
    assert phones(back) == phones(second)
    assert phones(
        viewer_client.get(page_url, {"cursor": back.context["page"].previous_cursor})
    ) == (phones(first))


def test_a_broken_cursor_shows_the_first_page_and_says_so(
    viewer_client, sending_list, many_contacts
):
    response = viewer_client.get(url("list_contacts", "acme", sending_list.pk), {"cursor": "x~y"})
    assert response.status_code == 200
    assert phones(response) == [f"+1415555{2000 + i:04d}" for i in range(50)]
    assert "This page link is broken; here is the first page." in response.content.decode()


def test_all_contacts_spans_every_list_with_the_same_number_twice(
    viewer_client, sending_list, account, contact, other_contact
):
    second_list = SendingListFactory(account=account, name="Second", phone_number="+14155550102")
    twin = label_contact(
        ContactFactory(sending_list=second_list, phone_number=contact.phone_number),
        {"source": "facebook"},
    )
    response = viewer_client.get(
        url("all_contacts", "acme"), {"key": "source", "value": "facebook"}
    )
    assert [c.pk for c in response.context["contacts"]] == [contact.pk, twin.pk]
    assert "<th>List</th>" in response.content.decode()


def test_paging_between_two_contacts_with_the_same_number_keeps_both(
    viewer_client, sending_list, account, contact, monkeypatch
):
    second_list = SendingListFactory(account=account, name="Second", phone_number="+14155550102")
    twin = ContactFactory(sending_list=second_list, phone_number=contact.phone_number)
    monkeypatch.setattr("contacts.views.CONTACTS_PER_PAGE", 1)
    first = viewer_client.get(url("all_contacts", "acme"))
    assert [c.pk for c in first.context["contacts"]] == [contact.pk]
    after = viewer_client.get(
        url("all_contacts", "acme"), {"cursor": first.context["page"].next_cursor}
    )
    assert [c.pk for c in after.context["contacts"]] == [twin.pk]
    assert after.context["page"].next_cursor == ""


def test_contacts_page_queries_do_not_grow_with_the_page(
    viewer_client, sending_list, many_contacts, django_assert_max_num_queries
):
    # The session, user, membership, account, list, the page, its labels, the key suggestions.
    with django_assert_max_num_queries(8):
        response = viewer_client.get(url("list_contacts", "acme", sending_list.pk))
    assert b'<span class="chip-key">tier</span>' in response.content


def test_contacts_page_never_counts_or_offsets(viewer_client, sending_list, many_contacts):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        first = viewer_client.get(url("list_contacts", "acme", sending_list.pk))
        viewer_client.get(
            url("list_contacts", "acme", sending_list.pk),
            {"cursor": first.context["page"].next_cursor},
        )
    sql = " ".join(query["sql"].upper() for query in queries.captured_queries)
    assert "COUNT(" not in sql
    assert "OFFSET" not in sql


@pytest.mark.parametrize(
    "query", ["4155552005", "(415) 555-2005", "+1 415 555 2005", "14155552005"]
)
def test_search_by_phone_in_any_format(viewer_client, sending_list, many_contacts, query):
    response = viewer_client.get(url("list_contacts", "acme", sending_list.pk), {"q": query})
    assert phones(response) == ["+14155552005"]


def test_search_by_some_digits(viewer_client, sending_list, many_contacts):
    response = viewer_client.get(url("list_contacts", "acme", sending_list.pk), {"q": "211"})
    assert phones(response) == [f"+1415555{2110 + i:04d}" for i in range(10)]
    short = viewer_client.get(url("list_contacts", "acme", sending_list.pk), {"q": "21"})
    assert phones(short) == []
    assert (
        short.context["search_error"] == "Type a full phone number or at least three of its digits."
    )


def test_filter_by_label_key_and_value(viewer_client, sending_list, many_contacts):
    response = viewer_client.get(
        url("list_contacts", "acme", sending_list.pk), {"key": "tier", "value": "gold"}
    )
    assert phones(response) == [f"+1415555{2000 + i:04d}" for i in range(0, 120, 3)][:50]
    only_key = viewer_client.get(url("list_contacts", "acme", sending_list.pk), {"key": "tier"})
    assert len(phones(only_key)) == 50
    bad = viewer_client.get(url("list_contacts", "acme", sending_list.pk), {"key": "bad key"})
    assert phones(bad) == []
    assert "may only contain letters, digits" in bad.content.decode()


def test_paging_links_keep_the_filters(viewer_client, sending_list, many_contacts):
    response = viewer_client.get(
        url("list_contacts", "acme", sending_list.pk), {"key": "tier", "value": "silver"}
    )
    html = response.content.decode()
    cursor = response.context["page"].next_cursor
    page_url = url("list_contacts", "acme", sending_list.pk)
    link = f"{page_url}?key=tier&amp;value=silver&amp;cursor={quote(cursor, safe='')}&amp;at=51"
    assert f'href="{link}" hx-get="{link}"' in html
    assert 'hx-push-url="true">Next' in html
    second = viewer_client.get(page_url, {"key": "tier", "value": "silver", "cursor": cursor})
    silver = [c.phone_number for i, c in enumerate(many_contacts) if i % 3]
    assert phones(second) == silver[50:]
    assert "?key=tier&amp;value=silver&amp;cursor=" in second.content.decode()


def test_contacts_table_htmx_returns_the_table_fragment(viewer_client, sending_list, contact):
    response = viewer_client.get(url("list_contacts", "acme", sending_list.pk), **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="contacts-table">')
    assert "<html" not in html
    assert response["Vary"] == "HX-Request, Cookie"


def test_contacts_table_history_restore_gets_the_whole_page(viewer_client, sending_list, contact):
    # htmx's Back after a cache miss; the page asks htmx not to send HX-Request, and a history
    # restore that does send it still gets the whole page.
    response = viewer_client.get(
        url("list_contacts", "acme", sending_list.pk),
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
        **HTMX,
    )
    html = response.content.decode()
    assert html.startswith("<!doctype html>")
    assert '<header class="topbar">' in html
    assert html.count('<section id="contacts-table">') == 1
    assert response["Vary"] == "HX-Request, Cookie"


def test_contacts_table_refuses_post(viewer_client, sending_list):
    assert viewer_client.post(url("list_contacts", "acme", sending_list.pk)).status_code == 405


def test_another_accounts_list_is_404_even_with_own_slug(outsider_client, sending_list):
    assert outsider_client.get(url("list_contacts", "globex", sending_list.pk)).status_code == 404


# Contact page and Edit Labels


def test_contact_page_shows_labels_and_edit_controls_for_editors(editor_client, contact):
    response = editor_client.get(url("contact_detail", "acme", contact.pk))
    html = response.content.decode()
    assert response.status_code == 200
    assert [(label.key, label.value) for label in response.context["labels"]] == [
        ("source", "facebook"),
        ("tier", "gold"),
    ]
    assert "Edit Labels" in html
    assert "Unsubscribe" in html
    # The limit comes from the label rules (`contacts.labels.MAX_LABELS_PER_CONTACT`).
    assert "2 of 50 labels." in html


def test_viewer_sees_no_edit_controls(viewer_client, contact):
    html = viewer_client.get(url("contact_detail", "acme", contact.pk)).content.decode()
    assert "Edit Labels" not in html
    assert "Unsubscribe" not in html
    assert "Erase" not in html


def test_outsider_gets_404_on_every_contact_url(outsider_client, contact):
    for name in ("contact_detail", "contact_labels", "contact_erase"):
        assert outsider_client.get(url(name, "acme", contact.pk)).status_code == 404
        assert outsider_client.get(url(name, "globex", contact.pk)).status_code == 404
    for name in ("contact_labels", "contact_label_rows", "contact_subscription", "contact_erase"):
        assert outsider_client.post(url(name, "globex", contact.pk)).status_code == 404
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}
    assert Contact.objects.filter(pk=contact.pk, status="subscribed").exists()


def test_viewer_gets_403_on_every_write(viewer_client, contact, sending_list):
    for name in ("contact_labels", "contact_label_rows", "contact_subscription", "contact_erase"):
        assert viewer_client.post(url(name, "acme", contact.pk)).status_code == 403
    assert viewer_client.get(url("contact_labels", "acme", contact.pk)).status_code == 403
    assert viewer_client.post(url("contact_new", "acme", sending_list.pk)).status_code == 403
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}
    assert Contact.objects.filter(pk=contact.pk, status="subscribed").exists()


def test_contact_detail_refuses_post(editor_client, contact):
    assert editor_client.post(url("contact_detail", "acme", contact.pk)).status_code == 405


def test_edit_labels_form_fragment_lists_current_labels_and_key_suggestions(
    editor_client, contact, other_contact
):
    response = editor_client.get(url("contact_labels", "acme", contact.pk), **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="labels-panel">')
    assert [(row.key, row.value) for row in response.context["form"].rows] == [
        ("source", "facebook"),
        ("tier", "gold"),
    ]
    # Suggestions are this account's keys only.
    assert list(response.context["key_suggestions"]) == ["source", "tier"]


def test_edit_labels_without_htmx_renders_the_whole_page(editor_client, contact):
    response = editor_client.get(url("contact_labels", "acme", contact.pk))
    assert b"<html" in response.content
    assert b'name="key"' in response.content


def test_saving_labels_replaces_them(editor_client, contact):
    response = editor_client.post(
        url("contact_labels", "acme", contact.pk),
        {"key": ["source", "tier", "cohort", ""], "value": ["facebook", "silver", "2024-Q1", ""]},
        **HTMX,
    )
    assert response.status_code == 200
    assert "Labels saved." in response.content.decode()
    assert labels_of(contact) == {"source": "facebook", "tier": "silver", "cohort": "2024-Q1"}


def test_saving_without_htmx_redirects_to_the_contact(editor_client, contact):
    response = editor_client.post(
        url("contact_labels", "acme", contact.pk), {"key": ["tier"], "value": ["bronze"]}
    )
    assert response.status_code == 302
    assert response["Location"] == url("contact_detail", "acme", contact.pk)
    assert labels_of(contact) == {"tier": "bronze"}


def test_invalid_rows_show_their_errors_and_save_nothing(editor_client, contact):
    response = editor_client.post(
        url("contact_labels", "acme", contact.pk),
        {"key": ["source", "bad key", "tier", "tier"], "value": ["google", "x", "", "gold"]},
        **HTMX,
    )
    assert response.status_code == 200
    rows = response.context["form"].rows
    assert [(row.key_error, row.value_error) for row in rows] == [
        ("", ""),
        ("Label key 'bad key' may only contain letters, digits, '_' and '-'.", ""),
        ("", "Label value is empty."),
        ("Label key 'tier' is given twice.", ""),
    ]
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_more_than_fifty_rows_are_refused(editor_client, contact):
    data = {"key": [f"k{i}" for i in range(51)], "value": ["v"] * 51}
    response = editor_client.post(url("contact_labels", "acme", contact.pk), data, **HTMX)
    assert response.context["form"].errors == [
        "A contact can have at most 50 labels; this would make 51."
    ]
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_a_save_counts_the_labels_once(editor_client, contact, monkeypatch):
    counted = []

    def count(number: int) -> None:
        counted.append(number)
        check_label_count(number)

    monkeypatch.setattr("contacts.labels.check_label_count", count)
    monkeypatch.setattr("contacts.services.check_label_count", count)
    data = {"key": ["source", "city", ""], "value": ["google", "Paris", ""]}

    editor_client.post(url("contact_labels", "acme", contact.pk), data, **HTMX)

    assert counted == [2]
    assert labels_of(contact) == {"source": "google", "city": "Paris"}


def test_adding_and_removing_rows_saves_nothing(editor_client, contact):
    rows_url = url("contact_label_rows", "acme", contact.pk)
    data = {"key": ["source", "tier"], "value": ["facebook", "gold"]}
    added = editor_client.post(rows_url, {**data, "add": "1"}, **HTMX)
    assert [(r.key, r.value) for r in added.context["form"].rows] == [
        ("source", "facebook"),
        ("tier", "gold"),
        ("", ""),
    ]
    removed = editor_client.post(rows_url, {**data, "remove": "0"}, **HTMX)
    assert [(r.key, r.value) for r in removed.context["form"].rows] == [("tier", "gold")]
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_a_mismatched_form_is_refused(editor_client, contact):
    response = editor_client.post(
        url("contact_labels", "acme", contact.pk), {"key": ["a", "b"], "value": ["1"]}, **HTMX
    )
    assert response.context["form"].errors == [
        "The form was incomplete; reload the page and try again."
    ]
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


@pytest.mark.parametrize("name", ["contact_labels", "contact_label_rows"])
def test_more_than_a_hundred_rows_are_refused_naming_the_limit(editor_client, contact, name):
    data = {"key": [f"k{i}" for i in range(101)], "value": ["v"] * 101}
    response = editor_client.post(url(name, "acme", contact.pk), data, **HTMX)
    assert response.status_code == 200
    assert response.context["form"].errors == [
        "The form has 101 label rows; it takes at most 100 (a contact can have at most 50 "
        "labels). Remove rows and try again."
    ]
    # The rows stay on the form, so that some can be removed.
    assert [row.key for row in response.context["form"].rows][:101] == data["key"]
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_a_hundred_rows_are_read_and_counted(editor_client, contact):
    data = {"key": [f"k{i}" for i in range(100)], "value": ["v"] * 100}
    response = editor_client.post(url("contact_labels", "acme", contact.pk), data, **HTMX)
    assert response.context["form"].errors == [
        "A contact can have at most 50 labels; this would make 100."
    ]


def test_label_rows_refuse_get(editor_client, contact):
    assert editor_client.get(url("contact_label_rows", "acme", contact.pk)).status_code == 405


def test_unsubscribe_and_resubscribe(editor_client, contact):
    editor_client.post(url("contact_subscription", "acme", contact.pk), {"subscribe": "0"})
    contact.refresh_from_db()
    assert contact.status == "unsubscribed"
    response = editor_client.post(
        url("contact_subscription", "acme", contact.pk), {"subscribe": "1"}, follow=True
    )
    contact.refresh_from_db()
    assert contact.status == "subscribed"
    assert "+14155551234 is subscribed again." in response.content.decode()
    assert editor_client.get(url("contact_subscription", "acme", contact.pk)).status_code == 405


def test_erase_asks_first_then_removes_the_contact_and_labels(editor_client, contact):
    confirm = editor_client.get(url("contact_erase", "acme", contact.pk))
    assert "Erase +14155551234?" in confirm.content.decode()
    assert Contact.objects.filter(pk=contact.pk).exists()
    response = editor_client.post(url("contact_erase", "acme", contact.pk))
    assert response["Location"] == url("list_contacts", "acme", contact.sending_list_id)
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not Label.objects.filter(contact_id=contact.pk).exists()


def test_editor_adds_a_contact_with_labels(editor_client, sending_list):
    response = editor_client.post(
        url("contact_new", "acme", sending_list.pk),
        {"phone_number": "(212) 555-0142", "key": ["source"], "value": ["referral"], "save": "1"},
    )
    contact = Contact.objects.get(sending_list=sending_list, phone_number="+12125550142")
    assert response["Location"] == url("contact_detail", "acme", contact.pk)
    assert labels_of(contact) == {"source": "referral"}


def test_adding_a_contact_reports_phone_and_label_errors_together(editor_client, sending_list):
    response = editor_client.post(
        url("contact_new", "acme", sending_list.pk),
        {"phone_number": "12", "key": ["bad key"], "value": ["x"], "save": "1"},
    )
    assert response.context["phone_error"] == "'12' is not a valid phone number."
    assert response.context["form"].rows[0].key_error.startswith("Label key 'bad key'")
    assert not Contact.objects.filter(sending_list=sending_list).exists()


def test_adding_a_contact_with_more_than_fifty_labels_is_refused(editor_client, sending_list):
    keys = [f"k{n}" for n in range(51)]
    response = editor_client.post(
        url("contact_new", "acme", sending_list.pk),
        {"phone_number": "2125550142", "key": keys, "value": ["v"] * 51, "save": "1"},
    )
    assert response.status_code == 200
    assert "A contact can have at most 50 labels; this would make 51." in (
        response.content.decode()
    )
    assert not Contact.objects.filter(sending_list=sending_list).exists()


def test_adding_an_existing_number_is_refused(editor_client, contact, sending_list):
    response = editor_client.post(
        url("contact_new", "acme", sending_list.pk),
        {"phone_number": "415-555-1234", "key": [""], "value": [""], "save": "1"},
    )
    assert response.context["phone_error"] == "+14155551234 is already on this list."
    assert Contact.objects.filter(sending_list=sending_list).count() == 1


def test_new_contact_form_adds_rows_without_saving(editor_client, sending_list):
    response = editor_client.post(
        url("contact_new", "acme", sending_list.pk),
        {"phone_number": "2125550142", "key": ["a"], "value": ["b"], "add": "1"},
    )
    assert len(response.context["form"].rows) == 2
    assert not Contact.objects.exists()
