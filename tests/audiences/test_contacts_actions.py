import re
from dataclasses import asdict
from html import unescape
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils.html import escape

from audiences.models import LabelChange
from audiences.views import MAX_TICKED
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


def test_a_table_without_contacts_offers_no_bulk_action(
    editor_client, account, sending_list, table
):
    page = reverse("contacts:list_contacts", args=["acme", sending_list.pk])
    html = editor_client.get(page, {"key": "tier", "value": "platinum"}).content.decode()
    assert "No contacts match these filters." in html
    assert 'id="bulk-form"' not in html
    empty = SendingListFactory(account=account, name="Empty")
    html = editor_client.get(
        reverse("contacts:list_contacts", args=["acme", empty.pk])
    ).content.decode()
    assert "No contacts on this list yet." in html
    assert 'id="bulk-form"' not in html
    # With contacts, the hint that stands in for the button until a tick is there.
    html = editor_client.get(page).content.decode()
    assert 'data-testid="bulk-hint">Tick contacts below to continue.</span>' in html


def test_first_step_asks_for_the_label(editor_client, table):
    response = editor_client.post(
        ACTION_URL, {"action": "add", "scope": "ticked", "ids": [table["gold1"].pk]}
    )
    assert response.status_code == 200
    assert response.context["target"] == "1 ticked contact"
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


def _hidden_fields(html: str) -> list[tuple[str, str]]:
    """The hidden inputs of a page, as the browser posts them back."""
    return [
        (unescape(name), unescape(value))
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', html)
    ]


FORM = "application/x-www-form-urlencoded"
NO_TICKS = (
    "No contacts are ticked. Tick the contacts to change, or choose all contacts matching the "
    "filter."
)


@pytest.mark.parametrize("extra", [{}, {"ids": ""}, {"ids": "abc,²,-1"}])
def test_nothing_ticked_is_refused_with_a_message(editor_client, sending_list, table, extra):
    data = {"action": "add", "scope": "ticked", "list_id": sending_list.pk, **extra}
    response = editor_client.post(ACTION_URL, data)
    assert response.status_code == 200
    assert response.context["problem"] == NO_TICKS
    html = response.content.decode()
    assert f'data-testid="problem">{NO_TICKS}</p>' in html
    assert "0 ticked contacts" not in html
    assert 'name="key"' not in html
    # Nor does a confirmation start anything.
    confirmed = editor_client.post(ACTION_URL, {**data, "key": "x", "value": "y", "confirm": "1"})
    assert confirmed.status_code == 200
    assert confirmed.context["problem"] == NO_TICKS
    assert not LabelChange.objects.exists()


@pytest.mark.parametrize(
    ("filters", "problem"),
    [
        (
            {"filter_key": "tier", "filter_value": "platinum"},
            "No contacts on Main match key “tier”, value “platinum”: there is nothing to change.",
        ),
        (
            {"filter_q": "+14155550000"},
            "No contacts on Main match phone “+14155550000”: there is nothing to change.",
        ),
        (
            {"filter_q": "12"},
            "Type a full phone number or at least three of its digits.",
        ),
        (
            {"filter_key": "not a key"},
            "This filter cannot be used: Label key 'not a key' may only contain letters, "
            "digits, '_' and '-'.",
        ),
        (
            {"filter_value": "gold"},
            "This filter cannot be used: Choose a label key to filter by its value.",
        ),
    ],
)
def test_all_matching_a_filter_that_matches_nothing_or_is_invalid_is_refused(
    editor_client, sending_list, table, filters, problem
):
    data = {"action": "remove", "scope": "all", "list_id": sending_list.pk, **filters}
    for step in ({}, {"key": "tier"}, {"key": "tier", "confirm": "1"}):
        response = editor_client.post(ACTION_URL, {**data, **step})
        assert response.status_code == 200
        assert response.context["problem"] == problem
        assert f'data-testid="problem">{escape(problem)}</p>' in response.content.decode()
    assert not LabelChange.objects.exists()
    assert labels_of(table["gold1"]) == {"tier": "gold"}


def test_all_contacts_of_an_empty_list_is_refused(editor_client, account):
    empty = SendingListFactory(account=account, name="Empty")
    response = editor_client.post(
        ACTION_URL, {"action": "add", "scope": "all", "list_id": empty.pk}
    )
    assert response.status_code == 200
    assert (
        response.context["problem"] == "There are no contacts on Empty: there is nothing to change."
    )


@pytest.mark.parametrize(
    "back", ["javascript:alert(1)", "https://evil.example/", "//evil.example/", "/\\evil.example"]
)
def test_back_link_to_another_site_falls_back_to_the_lists_page(
    editor_client, sending_list, table, back
):
    list_page = reverse("contacts:list_contacts", args=["acme", sending_list.pk])
    data = {"action": "add", "scope": "ticked", "ids": table["gold1"].pk, "back": back}
    for extra in ({"list_id": sending_list.pk}, {"ids": ""}):
        response = editor_client.post(ACTION_URL, {**data, "list_id": sending_list.pk, **extra})
        assert response.context["cancel_url"] == list_page
        html = response.content.decode()
        assert f'href="{list_page}"' in html
        assert "evil.example" not in html
        assert "javascript:" not in html
    # Without a list, the way back is the account's contacts page.
    response = editor_client.post(ACTION_URL, data)
    assert response.context["cancel_url"] == reverse("contacts:all_contacts", args=["acme"])


def test_back_link_within_the_site_is_kept(editor_client, sending_list, table):
    back = reverse("contacts:list_contacts", args=["acme", sending_list.pk]) + "?key=tier"
    data = {"action": "add", "scope": "ticked", "ids": table["gold1"].pk, "back": back}
    response = editor_client.post(ACTION_URL, {**data, "list_id": sending_list.pk})
    assert response.context["cancel_url"] == back
    assert f'href="{escape(back)}"' in response.content.decode()


def test_ticked_ids_travel_as_one_field_so_a_thousand_pass_every_step(
    editor_client, sending_list, table
):
    real = [table["gold1"].pk, table["silver"].pk]
    unknown = range(10_000_000, 10_000_000 + MAX_TICKED - len(real))
    ids = ",".join(str(pk) for pk in [*real, *unknown])
    data = {"action": "add", "scope": "ticked", "list_id": sending_list.pk, "ids": ids}
    preview = editor_client.post(ACTION_URL, {**data, "key": "promo", "value": "yes"})
    assert preview.status_code == 200
    assert preview.context["target"] == "1,000 ticked contacts on Main"
    assert preview.context["preview"].matching == 2
    fields = _hidden_fields(preview.content.decode())
    assert [name for name, _ in fields].count("ids") == 1
    # Confirming posts the page's fields back, as the browser does.
    confirm = [*fields, ("key", "promo"), ("value", "yes"), ("confirm", "1")]
    done = editor_client.post(ACTION_URL, urlencode(confirm), content_type=FORM)
    assert done.status_code == 302
    assert labels_of(table["gold1"])["promo"] == "yes"
    assert labels_of(table["silver"])["promo"] == "yes"


def test_more_ticked_contacts_than_the_limit_are_refused_naming_the_limit(editor_client, table):
    ids = ",".join(str(pk) for pk in range(1, 2001))
    response = editor_client.post(ACTION_URL, {"action": "add", "scope": "ticked", "ids": ids})
    assert response.status_code == 200
    assert response.context["problem"] == (
        "2,000 contacts are ticked, and a bulk action takes at most 1,000 ticked contacts. "
        "Choose all contacts matching a filter to change more."
    )
    assert not LabelChange.objects.exists()


def test_thousands_of_separate_ticks_get_a_page_that_says_what_to_do(editor_client, table):
    # More fields than Django reads (DATA_UPLOAD_MAX_NUMBER_FIELDS): refused before the view,
    # with the site's page rather than a bare "Bad Request".
    data = {"action": "add", "scope": "ticked", "ids": [str(pk) for pk in range(1, 2001)]}
    response = editor_client.post(ACTION_URL, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "<h1>This request could not be read</h1>" in html
    assert (
        "If you ticked many contacts for a bulk action, choose all contacts matching a filter "
        "instead." in html
    )
    assert not LabelChange.objects.exists()
