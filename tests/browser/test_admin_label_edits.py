"""The admin's label value list in Chromium: merge two values after the review, at a desktop and
a phone width."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from contacts.models import Label
from tests.conftest import PASSWORD
from tests.factories import ContactFactory, label_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("TRACKLY_SHOTS", "/work/shots/admin-label-edits"))


def _shot(page: Page, name: str) -> None:
    if not SHOTS.parent.exists():
        return
    SHOTS.mkdir(exist_ok=True)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"{name} overflows at {width} px"
    page.set_viewport_size({"width": 1366, "height": 900})


def test_staff_merge_values_from_the_admin_after_the_review(
    page, live_server, superuser, sending_list
):
    contacts = [
        label_contact(ContactFactory(sending_list=sending_list), {"source": value})
        for value in ("Facebook", "FB", "facebook")
    ]
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(superuser.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/admin/contacts/labelvaluecount/?q=source")
    rows = page.locator("#result_list tbody tr")
    for row in rows.all():
        if row.locator("td.field-value").inner_text() in ("Facebook", "FB"):
            row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option("merge_values")
    page.get_by_role("button", name="Run").click()
    page.get_by_label("into").fill("facebook")
    page.get_by_role("button", name="Review the effect").click()
    expect(page.locator('[data-review="contacts"]')).to_have_text("2")
    _shot(page, "merge-review")
    page.get_by_role("button", name="Confirm: Merge values").click()
    expect(page.locator(".messagelist")).to_contain_text("started as job")
    _shot(page, "after-merge")
    assert sorted(Label.objects.filter(key="source").values_list("contact_id", "value")) == [
        (contact.pk, "facebook") for contact in contacts
    ]
