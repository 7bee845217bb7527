"""A contacts table: its total, page position, sorting, label chips, phones and key suggestions."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact
from tests.factories import ContactFactory, label_contact
from trackly.phones import display_phone

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def sixty(sending_list):
    """60 contacts, added a minute apart in the reverse of their phone order."""
    contacts = [
        label_contact(
            ContactFactory(sending_list=sending_list, phone_number=f"+1415555{3000 + i:04d}"),
            {"tier": "gold" if i % 2 else "silver"},
        )
        for i in range(60)
    ]
    start = timezone.now() - timedelta(days=1)
    for index, contact in enumerate(contacts):
        Contact.objects.filter(pk=contact.pk).update(
            created_at=start + timedelta(minutes=60 - index)
        )
    return contacts


def list_url(sending_list) -> str:
    return reverse("contacts:list_contacts", args=["acme", sending_list.pk])


def phones(response) -> list[str]:
    return [contact.phone_number for contact in response.context["contacts"]]


def test_the_total_is_counted_after_the_page(viewer_client, sending_list, sixty):
    page = viewer_client.get(list_url(sending_list)).content.decode()
    assert (
        'hx-get="/a/acme/lists/1/?total=1" hx-trigger="load"'.replace("/1/", f"/{sending_list.pk}/")
        in page
    )
    assert "Counting…" in page
    total = viewer_client.get(list_url(sending_list), {"total": "1"}, **HTMX)
    html = total.content.decode()
    assert (
        '<span id="contacts-total" data-testid="contacts-total"><strong>60</strong> contacts</span>'
        in html
    )
    assert '<span id="bulk-all-count" hx-swap-oob="true">60</span>' in html
    one = viewer_client.get(list_url(sending_list), {"total": "1", "q": "4155553007"}, **HTMX)
    assert "<strong>1</strong> contact matches</span>" in one.content.decode()
    gold = viewer_client.get(list_url(sending_list), {"total": "1", "key": "tier", "value": "gold"})
    assert "<strong>30</strong> contacts match</span>" in gold.content.decode()


def test_the_total_is_one_count_query(
    viewer_client, sending_list, sixty, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        viewer_client.get(list_url(sending_list), {"total": "1"}, **HTMX)


def test_pages_say_which_rows_they_show(viewer_client, sending_list, sixty):
    first = viewer_client.get(list_url(sending_list))
    assert "· showing 1\N{EN DASH}50</span>" in first.content.decode()
    page = first.context["page"]
    second = viewer_client.get(list_url(sending_list), {"cursor": page.next_cursor, "at": "51"})
    assert "· showing 51\N{EN DASH}60</span>" in second.content.decode()
    # A position without a cursor is the first page's.
    alone = viewer_client.get(list_url(sending_list), {"at": "51"})
    assert "showing 1\N{EN DASH}50" in alone.content.decode()


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("phone", lambda contacts: contacts),
        ("-phone", lambda contacts: contacts[::-1]),
        ("added", lambda contacts: contacts[::-1]),
        ("-added", lambda contacts: contacts),
        ("nonsense", lambda contacts: contacts),
    ],
)
def test_sorted_tables_page_with_a_keyset(viewer_client, sending_list, sixty, sort, order):
    expected = [contact.phone_number for contact in order(sixty)]
    first = viewer_client.get(list_url(sending_list), {"sort": sort})
    assert phones(first) == expected[:50]
    cursor = first.context["page"].next_cursor
    second = viewer_client.get(list_url(sending_list), {"sort": sort, "cursor": cursor})
    assert phones(second) == expected[50:]
    if sort != "nonsense":
        assert (
            f"sort={sort.replace('-', '%2D') if False else sort}" in second.context["page"].filters
        )


def test_sort_links_reverse_the_sorted_column(viewer_client, sending_list, sixty):
    html = viewer_client.get(
        list_url(sending_list), {"sort": "added", "key": "tier"}
    ).content.decode()
    assert f'href="{list_url(sending_list)}?key=tier&amp;sort=-added"' in html
    assert f'href="{list_url(sending_list)}?key=tier&amp;sort=phone"' in html
    assert '<th aria-sort="ascending"><a' in html


def test_phones_are_shown_in_the_accounts_national_form(viewer_client, sending_list, account):
    ContactFactory(sending_list=sending_list, phone_number="+14155550100")
    ContactFactory(sending_list=sending_list, phone_number="+442079460018")
    html = viewer_client.get(list_url(sending_list)).content.decode()
    assert 'title="+14155550100">(415) 555-0100</a>' in html
    assert 'title="+442079460018">+44 20 7946 0018</a>' in html
    account.default_region = "GB"
    account.save()
    html = viewer_client.get(list_url(sending_list)).content.decode()
    assert 'title="+442079460018">020 7946 0018</a>' in html


def test_display_phone_falls_back_to_what_it_was_given():
    assert display_phone("+14155550100", "US") == "(415) 555-0100"
    assert display_phone("+14155550100", "FR") == "+1 415-555-0100"
    assert display_phone("not a phone", "US") == "not a phone"


def test_rows_show_three_label_chips_and_the_rest_behind_plus_n(viewer_client, sending_list):
    contact = ContactFactory(sending_list=sending_list)
    label_contact(contact, {f"key{i:02d}": f"v{i}" for i in range(12)})
    html = viewer_client.get(list_url(sending_list)).content.decode()
    assert html.count('<span class="chip" title="key0') == 10
    assert 'data-testid="more-labels">+9</summary>' in html
    assert "key02=v2&#10;" not in html
    assert 'title="key03=v3&#10;key04=v4' in html


def test_the_key_filter_suggests_the_keys_in_use(viewer_client, sending_list, sixty):
    html = viewer_client.get(list_url(sending_list)).content.decode()
    assert 'list="label-key-suggestions"' in html
    assert '<option value="tier">tier (60)</option>' in html


def test_every_contacts_table_sorts_the_same(viewer_client, sending_list, sixty):
    response = viewer_client.get(
        reverse("contacts:all_contacts", args=["acme"]), {"sort": "-added"}
    )
    assert phones(response) == [contact.phone_number for contact in sixty[:50]]
