"""Paging a filtered contacts table in Chromium: htmx swaps the table, the address bar follows
with the filter and the page, and the browser's Back button returns to the page before."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import ContactFactory, label_contact
from trackly.phones import display_phone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def silver_contacts(sending_list):
    contacts = [
        label_contact(
            ContactFactory(sending_list=sending_list, phone_number=f"+1415555{5000 + i}"),
            {"tier": "silver" if i % 2 else "gold"},
        )
        for i in range(120)
    ]
    # The 60 silver contacts, in phone order: 50 on the first page, 10 on the second.
    return [contact for index, contact in enumerate(contacts) if index % 2]


def test_next_and_previous_keep_the_filter_in_the_table_and_the_address(
    page, live_server, log_in, viewer_user, sending_list, silver_contacts
):
    log_in(viewer_user)
    page.goto(f"{live_server.url}/a/acme/lists/{sending_list.pk}/?key=tier&value=silver")
    rows = page.locator("#contacts-table tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text(display_phone(silver_contacts[0].phone_number))

    page.get_by_role("link", name="Next →").click()
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text(display_phone(silver_contacts[50].phone_number))
    expect(rows.last).to_contain_text(display_phone(silver_contacts[59].phone_number))
    expect(page).to_have_url(re.compile(r"\?key=tier&value=silver&cursor=[^&]+&at=51$"))
    expect(page.get_by_role("link", name="Next →")).to_have_count(0)
    # The filter form stays as it was: htmx swapped the table only.
    expect(page.get_by_label("Label value")).to_have_value("silver")

    page.get_by_role("link", name="← Previous").click()
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text(display_phone(silver_contacts[0].phone_number))
    expect(page.get_by_role("link", name="← Previous")).to_have_count(0)

    page.go_back()
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text(display_phone(silver_contacts[50].phone_number))


def test_back_after_filter_and_next_restores_the_whole_page(
    page, live_server, log_in, viewer_user, sending_list, silver_contacts
):
    log_in(viewer_user)
    page.goto(f"{live_server.url}/a/acme/lists/{sending_list.pk}/")
    page.get_by_label("Label key").fill("tier")
    page.get_by_label("Label value").fill("silver")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"\?q=&key=tier&value=silver$"))
    rows = page.locator("#contacts-table tbody tr")
    expect(rows).to_have_count(50)

    page.get_by_role("link", name="Next →").click()
    expect(rows).to_have_count(10)

    page.go_back()
    expect(page).to_have_url(re.compile(r"\?q=&key=tier&value=silver$"))
    expect(rows).to_have_count(50)
    # The whole page, not the table alone: the top bar, the heading and the filters with their
    # values, each once.
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    expect(page.locator("header.topbar")).to_have_count(1)
    expect(page.get_by_label("Label value")).to_have_value("silver")
    expect(page.locator("#contacts-table")).to_have_count(1)

    page.go_back()
    expect(rows).to_have_count(50)
    expect(page.get_by_label("Label value")).to_have_value("")
    expect(page.locator("header.topbar")).to_have_count(1)
