"""The account overview, empty states that lead, charts, and explained membership, in Chromium
at a laptop's width and a phone's."""

import datetime
import os
import random
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audiences.models import Audience
from contacts.models import Contact, Label, SendingList
from tests.factories import ContactFactory, SendingListFactory, label_contact
from trackly.models import Job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1366, 390)
# Screenshots are saved here when it is set, to be looked at.
SHOTS = os.environ.get("TRACKLY_SHOTS_DIR", "")


def shoot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)


def at_width(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})


def assert_fits(page: Page, test_id: str) -> None:
    """The element fits in the window (on pages whose other parts are not this module's)."""
    right = page.get_by_test_id(test_id).first.evaluate("e => e.getBoundingClientRect().right")
    assert right <= page.viewport_size["width"], f"{test_id} ends at {right}px"


def assert_no_overflow(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    # The widest elements that stick out, to say what to fix.
    culprits = page.evaluate(
        """(() => {
          const out = e => e.getBoundingClientRect().right > window.innerWidth + 1;
          return [...document.querySelectorAll('body *')]
            .filter(e => out(e) && ![...e.children].some(out))
            .slice(0, 5)
            .map(e => `${e.tagName}.${e.className} ${(e.textContent || '').slice(0, 40)}`);
        })()"""
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the window: {culprits}"


@pytest.fixture
def shop(account, sending_list):
    """A few hundred contacts added over the last weeks, with labels (some untidy), audiences
    and jobs."""
    rng = random.Random(14)
    second = SendingListFactory(account=account, name="Weekend promos", phone_number="+14155550109")
    now = timezone.now()
    contacts = []
    for number in range(240):
        contacts.append(
            Contact(
                account=account,
                sending_list=sending_list if number % 3 else second,
                phone_number=f"+1415555{2000 + number}",
            )
        )
    Contact.objects.bulk_create(contacts)
    labels = []
    for contact in contacts:
        tier = rng.choice(["vip", "standard", "standard", "gold"])
        labels.append(Label(account=account, contact=contact, key="ltv_tier", value=tier))
        source = rng.choice(["facebook", "google", "Facebook", "instagram", "referral"])
        labels.append(Label(account=account, contact=contact, key="source", value=source))
        if rng.random() < 0.2:
            labels.append(Label(account=account, contact=contact, key="churned", value="yes"))
        days = int(rng.triangular(0, 29, 3))
        Contact.objects.filter(pk=contact.pk).update(
            created_at=now - datetime.timedelta(days=days, minutes=rng.randrange(600))
        )
    Label.objects.bulk_create(labels)
    Audience.objects.create(
        account=account, name="VIP", conditions="ltv_tier = vip AND churned NOT EXISTS"
    )
    Audience.objects.create(account=account, name="Facebook leads", conditions="source = facebook")
    Job.objects.create(account=account, kind=Job.Kind.IMPORT, status="succeeded")
    Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL, status="running")
    return second


@pytest.mark.parametrize("width", WIDTHS)
def test_the_overview_after_login(page, log_in, live_server, admin_user, shop, width):
    at_width(page, width)
    log_in(admin_user)
    expect(page).to_have_url(f"{live_server.url}/a/acme/")
    expect(page.get_by_test_id("total-contacts")).to_have_text("240")
    lists = page.get_by_test_id("overview-lists")
    expect(lists).to_contain_text("Main")
    expect(lists).to_contain_text("160 subscribed")
    expect(lists).to_contain_text("80 subscribed")
    facebook = Audience.objects.get(name="Facebook leads").count_members()
    expect(page.get_by_test_id("overview-audiences")).to_contain_text(f"Facebook leads{facebook}")
    expect(page.get_by_test_id("running-jobs")).to_contain_text("Add label")
    expect(page.get_by_test_id("recent-jobs")).to_contain_text("Import")
    expect(page.get_by_test_id("hygiene")).to_contain_text("Facebook · facebook")
    chart = page.get_by_test_id("added-chart")
    expect(chart.locator("rect")).to_have_count(30)
    expect(chart).to_contain_text("240 added")
    assert_no_overflow(page)
    shoot(page, "home")


@pytest.mark.parametrize("width", WIDTHS)
def test_an_empty_account_is_led_to_its_first_contacts(
    page, log_in, live_server, admin_user, account, sending_list, width
):
    at_width(page, width)
    log_in(admin_user)
    steps = page.get_by_test_id("next-steps")
    expect(steps).to_contain_text("This account has no contacts yet.")
    assert_no_overflow(page)
    shoot(page, "home-empty")
    steps.get_by_role("link", name="Add a contact").click()
    expect(page).to_have_url(f"{live_server.url}/a/acme/lists/{sending_list.pk}/contacts/new/")
    page.go_back()
    menu = page.get_by_text("Menu", exact=True)
    if menu.is_visible():
        # A narrow window folds the navigation behind Menu.
        menu.click()
    page.get_by_role("link", name="Sending Lists").click()
    page.get_by_role("link", name="Main", exact=True).click()
    empty = page.get_by_test_id("empty-list")
    expect(empty).to_contain_text("No contacts on this list yet.")
    assert_no_overflow(page)
    shoot(page, "list-empty")
    empty.get_by_role("link", name="Import a CSV file").click()
    expect(page).to_have_url(f"{live_server.url}/a/acme/lists/{sending_list.pk}/import/")


@pytest.mark.parametrize("width", WIDTHS)
def test_an_empty_audience_says_which_condition_removed_everyone(
    page, log_in, live_server, editor_user, account, shop, width
):
    audience = Audience.objects.create(
        account=account, name="Gold VIPs", conditions="source = google AND ltv_tier = platinum"
    )
    at_width(page, width)
    log_in(editor_user)
    page.goto(f"{live_server.url}/a/acme/audiences/{audience.pk}/")
    expect(page.get_by_test_id("why-empty-headline")).to_have_text(
        "label:ltv_tier = platinum removed everyone."
    )
    assert_no_overflow(page)
    shoot(page, "audience-empty")


@pytest.mark.parametrize("width", WIDTHS)
def test_an_audience_shows_its_members_by_a_chosen_key(
    page, log_in, live_server, viewer_user, account, shop, width
):
    audience = Audience.objects.get(name="Facebook leads")
    at_width(page, width)
    log_in(viewer_user)
    page.goto(f"{live_server.url}/a/acme/audiences/{audience.pk}/")
    breakdown = page.get_by_test_id("breakdown")
    expect(breakdown.get_by_label("Key")).to_have_value("source")
    expect(breakdown.locator("meter")).to_have_count(1)
    members = audience.count_members()
    tiers = audience.members().filter(labels__key="ltv_tier", labels__value="standard").count()
    with page.expect_response(lambda response: "/breakdown/" in response.url):
        breakdown.get_by_label("Key").select_option("ltv_tier")
    expect(page.get_by_test_id("breakdown-table")).to_contain_text(f"standard{tiers}")
    expect(page.get_by_test_id("breakdown").locator("meter")).not_to_have_count(1)
    assert members > tiers
    assert_fits(page, "breakdown")
    assert_fits(page, "phone-panel")
    shoot(page, "audience-breakdown")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_contact_page_explains_an_audience(
    page, log_in, live_server, viewer_user, account, sending_list, width
):
    contact = label_contact(
        ContactFactory(sending_list=sending_list, phone_number="+14155557000"),
        {"ltv_tier": "standard", "source": "facebook"},
    )
    Audience.objects.create(account=account, name="Everyone")
    Audience.objects.create(
        account=account, name="VIP", conditions="ltv_tier = vip AND churned NOT EXISTS"
    )
    at_width(page, width)
    log_in(viewer_user)
    page.goto(f"{live_server.url}/a/acme/contacts/{contact.pk}/")
    panel = page.get_by_test_id("explain-panel")
    panel.get_by_label("Audience").select_option(label="VIP")
    panel.get_by_role("button", name="Check").click()
    verdict = page.get_by_test_id("verdict")
    expect(verdict).to_have_text("✗ +14155557000 is not in “VIP”.")
    explanation = page.get_by_test_id("explanation")
    expect(explanation).to_contain_text("ltv_tier is standard, not vip")
    expect(explanation).to_contain_text("has no churned label")
    # The page stayed the contact's: the panel was swapped in place.
    expect(page).to_have_url(f"{live_server.url}/a/acme/contacts/{contact.pk}/")
    assert_fits(page, "explain-panel")
    shoot(page, "contact-explain")


@pytest.mark.parametrize("width", WIDTHS)
def test_an_audience_page_explains_a_phone_number(
    page, log_in, live_server, viewer_user, account, sending_list, width
):
    label_contact(
        ContactFactory(sending_list=sending_list, phone_number="+14155557001"),
        {"ltv_tier": "vip"},
    )
    other = SendingList.objects.create(account=account, name="Other", phone_number="+14155550177")
    ContactFactory(
        sending_list=other,
        phone_number="+14155557001",
        status="unsubscribed",
        unsubscribed_at=timezone.now(),
    )
    audience = Audience.objects.create(account=account, name="VIP", conditions="ltv_tier = vip")
    at_width(page, width)
    log_in(viewer_user)
    page.goto(f"{live_server.url}/a/acme/audiences/{audience.pk}/")
    panel = page.get_by_test_id("phone-panel")
    panel.get_by_label("Phone number").fill("(415) 555-7001")
    panel.get_by_role("button", name="Check").click()
    verdicts = page.get_by_test_id("verdict")
    expect(verdicts).to_have_count(2)
    expect(verdicts.nth(0)).to_have_text("✓ +14155557001 is in “VIP”.")
    expect(verdicts.nth(1)).to_have_text("✗ +14155557001 is not in “VIP”.")
    expect(page.get_by_test_id("explanation").nth(1)).to_contain_text("unsubscribed")
    assert_fits(page, "phone-panel")
    shoot(page, "audience-explain")
    panel = page.get_by_test_id("phone-panel")
    panel.get_by_label("Phone number").fill("+14155550000")
    panel.get_by_role("button", name="Check").click()
    expect(page.get_by_test_id("unknown-phone")).to_have_text(
        "No contact in this account has the phone number +14155550000."
    )
