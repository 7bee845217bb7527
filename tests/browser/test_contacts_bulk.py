"""The contacts table's bulk action in Chromium: it is offered for ticked contacts only once one
is ticked, and for all matching contacts at any time."""

import pytest
from playwright.sync_api import Page, expect

from tests.factories import ContactFactory, SendingListFactory, label_contact
from trackly.phones import display_phone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gold_contacts(sending_list):
    return [
        label_contact(
            ContactFactory(sending_list=sending_list, phone_number=f"+1415555{4100 + i}"),
            {"tier": "gold"},
        )
        for i in range(3)
    ]


def _open_list(page: Page, live_server, sending_list) -> None:
    page.goto(f"{live_server.url}/a/acme/lists/{sending_list.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(sending_list.name)


def test_continue_waits_for_a_tick_and_takes_the_ticked_contacts(
    page, live_server, log_in, editor_user, sending_list, gold_contacts
):
    log_in(editor_user)
    _open_list(page, live_server, sending_list)
    continue_button = page.get_by_role("button", name="Continue…", exact=True)
    hint = page.get_by_test_id("bulk-hint")
    expect(continue_button).to_be_hidden()
    expect(hint).to_have_text("Tick contacts below to continue.")

    tick = page.get_by_label(f"Tick {display_phone(gold_contacts[0].phone_number)}", exact=True)
    tick.check()
    expect(continue_button).to_be_visible()
    expect(hint).to_be_hidden()
    tick.uncheck()
    expect(continue_button).to_be_hidden()

    # All matching contacts need no tick.
    # The number of contacts is counted after the page has loaded.
    expect(page.locator("#bulk-all-count")).to_have_text("3")
    page.get_by_label("to all 3 contacts on this list").check()
    expect(continue_button).to_be_visible()
    page.get_by_label("to the ticked contacts").check()
    expect(continue_button).to_be_hidden()

    for contact in gold_contacts[:2]:
        page.get_by_label(f"Tick {display_phone(contact.phone_number)}", exact=True).check()
    continue_button.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Add a label to 2 ticked contacts on Main"
    )
    page.get_by_label("Key").fill("promo")
    page.get_by_label("Value").fill("yes")
    page.get_by_role("button", name="Review the effect", exact=True).click()
    expect(page.get_by_test_id("preview-gained")).to_have_text("2")
    page.get_by_role("link", name="Cancel", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Main")


def test_a_list_without_contacts_offers_no_bulk_action(
    page, live_server, log_in, editor_user, account
):
    empty = SendingListFactory(account=account, name="Empty")
    log_in(editor_user)
    _open_list(page, live_server, empty)
    expect(page.get_by_text("No contacts on this list yet.")).to_be_visible()
    expect(page.get_by_role("button", name="Continue…")).to_have_count(0)
