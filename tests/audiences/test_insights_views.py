"""The account overview, the glance panels of an audience, the membership explanations in the
dashboard, and the empty states that say what to do next."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from audiences import insights
from audiences.models import Audience
from contacts.models import Contact
from tests.factories import ContactFactory, SendingListFactory, label_contact
from trackly.models import Job


def url(name, *args):
    return reverse(name, args=["acme", *args])


def text_of(response) -> str:
    """The response's text without tags, white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture
def shop(account, sending_list):
    """Contacts with tidy and untidy labels, an audience and a finished job."""
    second = SendingListFactory(account=account, name="Second", phone_number="+14155550101")
    for labels in (
        {"source": "Facebook", "tier": "gold"},
        {"source": "facebook", "tier": "gold"},
        {"source": "google", "Tier": "silver"},
    ):
        label_contact(ContactFactory(sending_list=sending_list), labels)
    label_contact(ContactFactory(sending_list=second), {"source": "google"})
    ContactFactory(
        sending_list=second, status="unsubscribed", unsubscribed_at="2025-01-01T00:00:00Z"
    )
    Audience.objects.create(account=account, name="Gold", conditions="tier = gold")
    Job.objects.create(account=account, kind=Job.Kind.IMPORT, status="succeeded")
    Job.objects.create(account=account, kind=Job.Kind.IMPORT_PREVIEW, status="succeeded")
    return second


# The overview


def test_home_opens_the_overview(admin_client, shop):
    response = admin_client.get("/", follow=True)
    assert response.redirect_chain == [("/a/acme/", 302)]
    html = response.content.decode()
    assert '<a href="/a/acme/" aria-current="page">Home</a>' in html
    for panel in ("overview-lists", "overview-audiences", "overview-added", "overview-jobs"):
        assert f'data-testid="{panel}"' in html
    assert "Import #" in text_of(response)
    assert "Import preview" not in text_of(response)
    assert 'data-testid="next-steps"' not in html


def test_the_overview_is_a_few_queries_however_many_objects(
    admin_client, shop, account, django_assert_max_num_queries
):
    for number in range(20):
        Audience.objects.create(account=account, name=f"A{number}")
        Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL)
    # Session, user, membership, lists, whether there are contacts, audiences, running and
    # recent jobs, and the account switcher's memberships.
    with django_assert_max_num_queries(9):
        response = admin_client.get(url("audiences:overview"))
    assert response.status_code == 200
    text = text_of(response)
    assert text.count("Add label #") == 5
    assert "Running Add label #" in text
    assert "Recent Import #" in text
    assert "More audiences…" in text_of(response)


def test_the_list_counts_arrive_after_the_page(admin_client, shop, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        response = admin_client.get(url("audiences:overview_lists"))
    text = text_of(response)
    assert "5 contacts, 4 subscribed" in text
    assert "Main 3 subscribed" in text
    assert "Second 1 subscribed" in text


def test_an_empty_account_is_shown_its_next_steps(admin_client, account, sending_list):
    response = admin_client.get(url("audiences:overview"))
    html = response.content.decode()
    assert 'data-testid="next-steps"' in html
    assert f'href="/a/acme/lists/{sending_list.pk}/import/">Import a CSV</a>' in html
    assert f'href="/a/acme/lists/{sending_list.pk}/contacts/new/">Add a contact</a>' in html
    assert 'href="/a/acme/settings/api-keys/">Create an API key</a>' in html


def test_an_account_without_lists_is_first_asked_to_create_one(admin_client, account):
    html = admin_client.get(url("audiences:overview")).content.decode()
    assert 'href="/a/acme/lists/">Create a sending list</a>' in html
    assert "Import a CSV</a>" not in html


def test_a_viewer_is_not_offered_what_it_cannot_do(viewer_client, account, sending_list):
    html = viewer_client.get(url("audiences:overview")).content.decode()
    assert 'data-testid="next-steps"' in html
    assert "Import a CSV</a>" not in html
    assert "Create an API key</a>" not in html
    assert "An admin of the account can create one." in html


def test_contacts_added_per_day_fill_every_day(account, sending_list):
    today = timezone.localdate()
    for days_ago in (0, 0, 2, 29, 30):
        contact = ContactFactory(sending_list=sending_list)
        when = timezone.now() - datetime.timedelta(days=days_ago)
        Contact.objects.filter(pk=contact.pk).update(created_at=when)
    days = insights.added_per_day(account)
    assert len(days) == 30
    assert days[0].day == today - datetime.timedelta(days=29)
    assert days[-1] == insights.DayCount(today, 2)
    assert days[-3] == insights.DayCount(today - datetime.timedelta(days=2), 1)
    assert days[0].contacts == 1
    assert sum(item.contacts for item in days) == 4


def test_the_added_chart_draws_a_bar_a_day(
    admin_client, account, sending_list, django_assert_max_num_queries
):
    ContactFactory(sending_list=sending_list)
    ContactFactory(sending_list=sending_list)
    with django_assert_max_num_queries(4):
        response = admin_client.get(url("audiences:overview_added"))
    html = response.content.decode()
    assert html.count("<rect ") == 30
    today = timezone.localdate().isoformat()
    assert f'<rect x="291" y="10" width="8" height="90" data-day="{today}" data-contacts="2">' in (
        html
    )
    assert "2 contacts added" in html


def test_hygiene_warns_of_keys_and_values_that_look_like_duplicates(
    admin_client, shop, django_assert_max_num_queries
):
    # Session, user, membership, the keys, and the values of each of the four keys.
    with django_assert_max_num_queries(8):
        response = admin_client.get(url("audiences:overview_hygiene"))
    text = text_of(response)
    assert "2 groups of labels look like duplicates" in text
    assert "Keys Tier · tier" in text
    assert "source : Facebook · facebook" in text


def test_hygiene_checks_only_the_most_used_keys(account, sending_list):
    label_contact(ContactFactory(sending_list=sending_list), {"a": "X", "b": "y"})
    label_contact(ContactFactory(sending_list=sending_list), {"a": "x"})
    checked = insights.hygiene(account, keys_checked=1)
    assert checked == insights.Hygiene([], [insights.SimilarValues("a", [["X", "x"]])], 1, 2)


@pytest.mark.parametrize(
    "name",
    ["audiences:overview", "audiences:overview_lists", "audiences:overview_added"],
)
def test_outsiders_get_404_from_the_overview(outsider_client, account, name):
    assert outsider_client.get(url(name)).status_code == 404


def test_the_overview_answers_only_get(admin_client, account):
    assert admin_client.post(url("audiences:overview")).status_code == 405


# An audience at a glance


def test_the_breakdown_counts_members_by_the_key_its_conditions_name(admin_client, shop, account):
    audience = Audience.objects.create(
        account=account, name="Sources", conditions="source EXISTS AND tier NOT EXISTS"
    )
    response = admin_client.get(url("audiences:audience_breakdown", audience.pk))
    assert 'option value="source" selected' in response.content.decode()
    assert "google 2" in text_of(response)


def test_the_breakdown_by_a_chosen_key(admin_client, shop, account, django_assert_max_num_queries):
    audience = Audience.objects.create(account=account, name="All")
    with django_assert_max_num_queries(10):
        response = admin_client.get(
            url("audiences:audience_breakdown", audience.pk), {"key": "tier"}
        )
    assert "gold 2 No tier 2" in text_of(response)
    members = audience.members()
    assert insights.breakdown(members, account=account, key="source", limit=1) == (
        insights.Breakdown("source", 4, [insights.ValueShare("google", 2)], 2, 0, 50_000)
    )


def test_an_empty_audience_says_which_condition_removed_everyone(admin_client, shop, account):
    audience = Audience.objects.create(
        account=account, name="Nobody", conditions="tier = gold AND source = google"
    )
    page = admin_client.get(url("audiences:audience_detail", audience.pk)).content.decode()
    assert f'hx-get="/a/acme/audiences/{audience.pk}/why-empty/"' in page
    response = admin_client.get(url("audiences:audience_why_empty", audience.pk))
    assert text_of(response).startswith(
        "label:source = google removed everyone. 5 contacts in the account 4 subscribed "
        "2 pass label:tier = gold 0 pass label:source = google"
    )


def test_an_audience_with_members_loads_no_explanation(admin_client, shop, account):
    audience = Audience.objects.get(name="Gold")
    page = admin_client.get(url("audiences:audience_detail", audience.pk)).content.decode()
    assert "why-empty" not in page
    assert f'hx-get="/a/acme/audiences/{audience.pk}/breakdown/"' in page


# Explanations in the dashboard


def test_a_contact_page_checks_an_audience(admin_client, account, contact):
    audience = Audience.objects.create(account=account, name="Gold", conditions="tier = silver")
    page = admin_client.get(url("contacts:contact_detail", contact.pk)).content.decode()
    assert f'hx-get="/a/acme/contacts/{contact.pk}/explain/"' in page
    picker = admin_client.get(
        url("audiences:contact_explain", contact.pk), headers={"HX-Request": "true"}
    )
    assert f'<option value="{audience.pk}">Gold</option>' in picker.content.decode()
    response = admin_client.get(
        url("audiences:contact_explain", contact.pk), {"audience": audience.pk}
    )
    text = text_of(response)
    assert "✗ +14155551234 is not in “Gold”." in text
    assert "label:tier = silver — tier is gold , not silver" in text


def test_an_audience_page_checks_a_phone_number(admin_client, account, contact):
    audience = Audience.objects.create(account=account, name="FB", conditions="source = facebook")
    response = admin_client.get(
        url("audiences:audience_explain", audience.pk), {"phone": "415 555 1234"}
    )
    text = text_of(response)
    assert "✓ +14155551234 is in “FB”." in text
    assert "Subscribed — subscribed" in text


def test_an_unknown_phone_says_so(admin_client, account, contact):
    audience = Audience.objects.create(account=account, name="FB")
    response = admin_client.get(
        url("audiences:audience_explain", audience.pk),
        {"phone": "+14155550000"},
        headers={"HX-Request": "true"},
    )
    assert "No contact in this account has the phone number +14155550000." in text_of(response)
    assert "<html" not in response.content.decode()


def test_a_bad_phone_is_named(admin_client, account):
    audience = Audience.objects.create(account=account, name="FB")
    response = admin_client.get(url("audiences:audience_explain", audience.pk), {"phone": "abc"})
    assert response.status_code == 200
    assert "&#x27;abc&#x27; is not a valid phone number." in response.content.decode()


def test_outsiders_cannot_explain(outsider_client, account, contact):
    audience = Audience.objects.create(account=account, name="FB")
    assert outsider_client.get(url("audiences:contact_explain", contact.pk)).status_code == 404
    assert (
        outsider_client.get(
            url("audiences:audience_explain", audience.pk), {"phone": contact.phone_number}
        ).status_code
        == 404
    )
    for name in ("audiences:audience_breakdown", "audiences:audience_why_empty"):
        assert outsider_client.get(url(name, audience.pk)).status_code == 404


def test_another_accounts_audience_cannot_be_picked(admin_client, contact, other_account):
    theirs = Audience.objects.create(account=other_account, name="Theirs")
    response = admin_client.get(
        url("audiences:contact_explain", contact.pk), {"audience": theirs.pk}
    )
    assert response.status_code == 404


# Empty lists


def test_an_empty_list_leads_to_the_import(editor_client, account, sending_list):
    response = editor_client.get(url("contacts:list_contacts", sending_list.pk))
    html = response.content.decode()
    assert 'data-testid="empty-list"' in html
    link = f'href="/a/acme/lists/{sending_list.pk}/import/">Import a CSV file</a>'
    assert f'<a class="button primary" {link}' in html


def test_a_filtered_list_without_matches_says_so(editor_client, account, contact):
    response = editor_client.get(
        url("contacts:list_contacts", contact.sending_list_id), {"q": "999"}
    )
    assert 'data-testid="empty-list"' not in response.content.decode()


def test_a_large_audience_is_broken_down_by_its_newest_members(admin_client, shop, account):
    audience = Audience.objects.create(account=account, name="All")
    newest = list(audience.members().order_by("-id"))[:2]
    result = insights.breakdown(audience.members(), account=account, key="tier", sample=2)
    assert result == insights.Breakdown("tier", 2, [], 0, 2, 2)
    assert result.sampled
    assert not any(label.key == "tier" for contact in newest for label in contact.labels.all())
    assert not insights.breakdown(audience.members(), account=account, key="tier").sampled


def test_no_contacts_added_lately_is_said_in_words(admin_client, account, sending_list):
    contact = ContactFactory(sending_list=sending_list)
    Contact.objects.filter(pk=contact.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=40)
    )
    response = admin_client.get(url("audiences:overview_added"))
    assert text_of(response) == "No contacts added in the last 30 days."
