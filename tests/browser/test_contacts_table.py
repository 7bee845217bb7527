"""A list's contacts table in Chromium: total and position, tick the page, sort, +N labels."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import ContactFactory, label_contact
from trackly.phones import display_phone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sixty(sending_list):
    contacts = [
        label_contact(
            ContactFactory(sending_list=sending_list, phone_number=f"+1415555{6000 + i:04d}"),
            {"tier": "gold"},
        )
        for i in range(60)
    ]
    label_contact(contacts[0], {f"extra{i}": f"value {i}" for i in range(6)})
    return contacts


def test_total_position_tick_all_sort_and_more_labels(
    page, log_in, live_server, editor_user, sending_list, sixty
):
    log_in(editor_user)
    page.goto(f"{live_server.url}/a/acme/lists/{sending_list.pk}/")
    expect(page.get_by_test_id("contacts-total")).to_have_text("60 contacts")
    expect(page.get_by_test_id("showing")).to_have_text("· showing 1\N{EN DASH}50")
    rows = page.locator("#contacts-table tbody tr")
    first_phone = rows.first.get_by_role("link").first
    expect(first_phone).to_have_text("(415) 555-6000")
    expect(first_phone).to_have_attribute("title", "+14155556000")

    # The first contact has 7 labels: 3 chips, the other 4 behind "+4".
    more = rows.first.get_by_test_id("more-labels")
    expect(more).to_have_text("+4")
    expect(rows.first.locator(".more-labels .chip").first).to_be_hidden()
    more.click()
    expect(rows.first.locator(".more-labels .chip")).to_have_count(4)
    expect(rows.first.locator(".more-labels .chip").first).to_be_visible()

    page.get_by_test_id("tick-page").check()
    expect(page.locator("input[name='ids']:checked")).to_have_count(50)
    expect(page.locator("#bulk-all-count")).to_have_text("60")
    page.get_by_test_id("tick-page").uncheck()
    expect(page.locator("input[name='ids']:checked")).to_have_count(0)

    page.get_by_role("link", name="Next →").click()
    expect(page.get_by_test_id("showing")).to_have_text("· showing 51\N{EN DASH}60")
    expect(rows).to_have_count(10)

    # Sorting starts again from the first page; paging keeps the sort.
    page.get_by_test_id("sort-phone").click()
    expect(page.get_by_test_id("sort-phone")).to_have_text("Phone number ↓")
    expect(rows.first).to_contain_text(display_phone(sixty[59].phone_number))
    page.get_by_role("link", name="Next →").click()
    expect(rows.last).to_contain_text(display_phone(sixty[0].phone_number))
    expect(page).to_have_url(re.compile(r"\?sort=-phone&cursor=[^&]+&at=51$"))
    page.get_by_test_id("sort-added").click()
    expect(page.get_by_test_id("sort-added")).to_have_text("Added ↑")
    expect(page.get_by_test_id("showing")).to_have_text("· showing 1\N{EN DASH}50")
