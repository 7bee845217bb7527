"""The region picker of Settings, and numbers and plurals as a marketer reads them."""

import pytest
from playwright.sync_api import expect

from contacts.models import Contact
from trackly.phones import display_phone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_default_region_is_picked_by_name(page, live_server, log_in, admin_user, account):
    log_in(admin_user)
    page.goto(f"{live_server.url}/a/acme/settings/")
    region = page.get_by_label("Default phone region")
    expect(region).to_have_value("US")
    expect(region.locator("option:checked")).to_have_text("United States (+1)")
    region.select_option(label="United Kingdom (+44)")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Account settings saved.")).to_be_visible()
    expect(page.get_by_label("Default phone region")).to_have_value("GB")
    account.refresh_from_db()
    assert account.default_region == "GB"


def test_counts_are_grouped_and_one_is_singular(
    page, live_server, log_in, editor_user, sending_list, contact
):
    Contact.objects.bulk_create(
        Contact(
            account_id=sending_list.account_id,
            sending_list=sending_list,
            phone_number=f"+1415556{number:04d}",
        )
        for number in range(1233)
    )
    log_in(editor_user)
    page.goto(f"{live_server.url}/a/acme/lists/")
    expect(page.get_by_test_id(f"count-{sending_list.pk}")).to_have_text("1,234")
    page.goto(f"{live_server.url}/a/acme/lists/{sending_list.pk}/?q=%2B14155551234")
    page.get_by_role("checkbox", name=f"Tick {display_phone(contact.phone_number)}").check()
    page.get_by_role("button", name="Continue…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Add a label to 1 ticked contact on Main"
    )
