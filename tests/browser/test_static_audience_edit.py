"""A static audience in Chromium: its page says why a picked one has no Refresh, and its Edit
page renames and describes it, keeping its members."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from audiences import services
from audiences.models import Audience
from contacts.models import Contact
from tests.factories import ContactFactory, label_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("TRACKLY_SHOTS", "/work/shots/static-edit"))


def _shot(page: Page, name: str) -> None:
    """Screenshots at a desktop and a phone width, for looking at the pages."""
    if not SHOTS.parent.exists():
        return
    SHOTS.mkdir(exist_ok=True)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"{name} overflows at {width} px"
    page.set_viewport_size({"width": 1366, "height": 900})


def test_a_picked_static_audience_is_renamed_and_says_why_it_has_no_refresh(
    page, live_server, log_in, editor_user, account, sending_list
):
    for number in range(3):
        label_contact(
            ContactFactory(sending_list=sending_list, phone_number=f"+1415555{7000 + number}"),
            {"tier": "gold"},
        )
    static = Audience.objects.create(account=account, name="Picked", kind=Audience.Kind.STATIC)
    services.static_members_add(audience=static, contacts=Contact.objects.all())
    log_in(editor_user)
    page.goto(f"{live_server.url}/a/acme/audiences/{static.pk}/")
    expect(page.get_by_test_id("no-refresh")).to_have_text(
        "It was not frozen from conditions, so there is nothing to refresh it from: add or "
        "remove members instead."
    )
    page.locator("summary", has_text="Actions").click()
    expect(page.get_by_role("link", name="Refresh")).to_have_count(0)
    expect(page.get_by_role("link", name="Add members from a file")).to_be_visible()
    _shot(page, "static-detail")

    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit static audience")
    expect(page.get_by_label("Name")).to_have_value("Picked")
    page.get_by_label("Name").fill("Spring winners")
    page.get_by_label("Description").fill("Picked by hand from the March draw.")
    _shot(page, "static-edit")
    page.get_by_role("button", name="Save audience").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Spring winners")
    expect(page.get_by_text("Picked by hand from the March draw.")).to_be_visible()
    expect(page.get_by_test_id("member-count")).to_have_text("3")
    static.refresh_from_db()
    assert (static.name, static.kind, static.description) == (
        "Spring winners",
        "static",
        "Picked by hand from the March draw.",
    )


def test_a_taken_name_is_refused_on_the_edit_page(page, live_server, log_in, editor_user, account):
    Audience.objects.create(account=account, name="VIPs", conditions="label:tier = vip")
    static = Audience.objects.create(account=account, name="Picked", kind=Audience.Kind.STATIC)
    log_in(editor_user)
    page.goto(f"{live_server.url}/a/acme/audiences/{static.pk}/edit/")
    page.get_by_label("Name").fill("VIPs")
    page.get_by_role("button", name="Save audience").click()
    expect(page.get_by_role("alert")).to_have_text("An audience with this name already exists.")
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    _shot(page, "static-edit-error")
    static.refresh_from_db()
    assert static.name == "Picked"
