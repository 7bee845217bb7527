"""Label hygiene in Chromium: merge `Facebook` into `facebook` from the catalogue's hint, then
undo it from the audit log, checking a contact's labels each time."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.factories import ContactFactory, label_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("TRACKLY_SHOTS", "/work/shots/label-hygiene"))


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


def _labels(page: Page, live_server, contact) -> list[list[str]]:
    page.goto(f"{live_server.url}/a/acme/contacts/{contact.pk}/")
    rows = page.get_by_test_id("labels").locator("tbody tr")
    return [row.locator("td").all_inner_texts() for row in rows.all()]


def test_merge_from_the_hint_then_undo_from_the_audit_log(
    page, live_server, log_in, editor_user, sending_list
):
    shouting = label_contact(ContactFactory(sending_list=sending_list), {"source": "Facebook"})
    label_contact(ContactFactory(sending_list=sending_list), {"source": "facebook"})
    log_in(editor_user)
    page.goto(f"{live_server.url}/a/acme/labels/source/")
    _shot(page, "label-detail")
    page.get_by_role("link", name="Merge into facebook", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Merge values: source")
    expect(page.get_by_label("Facebook (1)", exact=True)).to_be_checked()
    # One click: the hint opens the review, with its exact counts.
    expect(page.get_by_test_id("review-contacts")).to_have_text("1")
    _shot(page, "merge-review")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_text("Succeeded").first).to_be_visible()
    assert _labels(page, live_server, shouting) == [["source", "facebook"]]

    page.goto(f"{live_server.url}/a/acme/audit/")
    _shot(page, "audit-log")
    page.get_by_test_id("undo").first.click()
    expect(page.get_by_test_id("undo-labels")).to_have_text("1")
    expect(page.get_by_test_id("undo-changed")).to_have_text("0")
    _shot(page, "undo-review")
    page.get_by_test_id("confirm-undo").click()
    expect(page.get_by_text("Succeeded").first).to_be_visible()
    assert _labels(page, live_server, shouting) == [["source", "Facebook"]]
    page.goto(f"{live_server.url}/a/acme/audit/")
    expect(page.get_by_test_id("undo-cell").nth(1)).to_have_text("Undone")
