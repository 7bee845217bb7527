"""Numbers and dates in Chromium: a "within the last N days" row built with the dropdowns, the
value types on the label page, and the time zone picker; each page fits a phone's width."""

import datetime
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.factories import ContactFactory, label_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Screenshots go here when TRACKLY_SHOTS names a directory (outside the repository).
SHOTS = os.environ.get("TRACKLY_SHOTS")


@pytest.fixture
def buyers(sending_list, account):
    today = account.today()
    values = [str(today - datetime.timedelta(days=days)) for days in (1, 10, 45, 400)]
    return [
        label_contact(
            ContactFactory(sending_list=sending_list, phone_number=f"+1415555{6000 + i}"),
            {"last_purchase": value, "orders": str(i)},
        )
        for i, value in enumerate([*values, "Jan 15, 2024"])
    ]


def _look(page: Page, name: str, part: str = "body") -> None:
    """Check that nothing in `part` of the page reaches past the window at 1366 and 390 pixels
    wide; keep screenshots if asked."""
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        if SHOTS:
            page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}.png"), full_page=True)
        overflow = page.locator(part).first.evaluate(
            "part => Math.max(...[part, ...part.querySelectorAll('*')].map("
            "element => element.getBoundingClientRect().right)) - window.innerWidth"
        )
        assert overflow <= 0, f"{name} overflows by {overflow} px at {width} px"


def test_a_within_last_days_row_is_built_with_the_dropdowns(
    page, log_in, live_server, editor_user, buyers
):
    log_in(editor_user)
    page.goto(f"{live_server.url}/a/acme/audiences/new/")
    with page.expect_response(lambda response: "/audiences/builder/" in response.url):
        page.get_by_role("button", name="Add condition \u203a Label").click()
    with page.expect_response(lambda response: "/audiences/builder/" in response.url):
        page.locator("select[name='g0-r0-key']").select_option("last_purchase")
    with page.expect_response(lambda response: "/audiences/builder/" in response.url):
        page.locator("select[name='g0-r0-op']").select_option(label="within the last … days")
    days = page.get_by_label("Number of days")
    with page.expect_response(lambda response: "/audiences/builder/" in response.url):
        days.fill("30")
        days.press("Enter")
    expect(page.locator("#id_conditions")).to_have_value("label:last_purchase WITHIN LAST 30 DAYS")
    expect(page.get_by_test_id("builder-count")).to_have_text("2")
    expect(page.get_by_test_id("not-in-form-0-0")).to_have_text(
        "1 value of last_purchase is not a date: that contact is never matched."
    )
    # Enter applied the days; it did not save the audience.
    expect(page).to_have_url(f"{live_server.url}/a/acme/audiences/new/")
    _look(page, "builder-within-last")


def test_the_label_page_lists_the_values_that_are_not_dates(
    page, log_in, live_server, viewer_user, buyers
):
    log_in(viewer_user)
    page.goto(f"{live_server.url}/a/acme/labels/last_purchase/")
    expect(page.get_by_test_id("value-types")).to_contain_text(
        "Value types: 0 numbers, 4 dates, 1 other"
    )
    expect(page.get_by_test_id("breaking-values")).to_contain_text("Jan 15, 2024")
    _look(page, "label-last-purchase")


def test_the_time_zone_is_picked_next_to_the_phone_region(page, log_in, live_server, admin_user):
    log_in(admin_user)
    page.goto(f"{live_server.url}/a/acme/settings/")
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Save").first.click()
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")
    # The account card; the members table below it is not part of this change.
    _look(page, "settings-time-zone", "section.card")
