"""Audiences in Chromium: the builder's dropdowns, saving, export, and Add Label run by a worker."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from audiences import compiler
from audiences.conditions import parse
from audiences.models import Audience
from contacts.models import Label
from tests.factories import ContactFactory, label_contact
from tests.workers import DATABASE_QUEUE, start_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The builder's button; \u203a is the single right-pointing angle quote.
ADD_CONDITION = "Add condition \u203a Label"
WINBACK = "label:ltv_tier = vip AND label:last_purchase_days = 90"


@pytest.fixture
def shoppers(sending_list):
    """Contacts of the seed's strategy: three are VIP Winback members, one of them has a tier."""
    people = [
        {"ltv_tier": "vip", "last_purchase_days": "90", "tier": "silver"},
        {"ltv_tier": "vip", "last_purchase_days": "90"},
        {"ltv_tier": "vip", "last_purchase_days": "90", "source": "=cmd|' /C calc'!A0"},
        {"ltv_tier": "vip", "last_purchase_days": "30"},
        {"ltv_tier": "standard", "last_purchase_days": "90"},
    ]
    return [
        label_contact(
            ContactFactory(sending_list=sending_list, phone_number=f"+1415555{4000 + i}"), labels
        )
        for i, labels in enumerate(people)
    ]


def _pick(page: Page, name: str, value: str) -> None:
    """Choose in a builder dropdown, and wait for the builder's response to it."""
    select = page.locator(f"select[name='{name}']")
    with page.expect_response(lambda response: "/audiences/builder/" in response.url):
        select.select_option(value)


def test_vip_winback_built_with_dropdowns_saved_opened_and_exported(
    page, log_in, live_server, editor_user, account, shoppers
):
    log_in(editor_user)
    page.get_by_role("link", name="Audiences", exact=True).click()
    page.get_by_role("link", name="New audience", exact=True).first.click()
    page.get_by_label("Name", exact=True).fill("VIP Winback")

    with page.expect_response(lambda response: "/audiences/builder/" in response.url):
        page.get_by_role("button", name=ADD_CONDITION).click()
    # The key dropdown lists every key in use with its contact count. htmx swaps the rows in
    # after the response has arrived, so the options are awaited rather than read at once.
    expect(page.locator("select[name='g0-r0-key'] option")).to_have_text(
        ["Label…", "last_purchase_days (5)", "ltv_tier (5)", "source (1)", "tier (1)"]
    )
    _pick(page, "g0-r0-key", "ltv_tier")
    expect(page.locator("select[name='g0-r0-value'] option")).to_have_text(
        ["Value…", "vip (4)", "standard (1)"]
    )
    _pick(page, "g0-r0-value", "vip")
    expect(page.get_by_test_id("builder-count")).to_have_text("4")

    with page.expect_response(lambda response: "/audiences/builder/" in response.url):
        page.get_by_role("button", name=ADD_CONDITION).click()
    _pick(page, "g1-r0-key", "last_purchase_days")
    _pick(page, "g1-r0-value", "90")

    expected = compiler.count_members(account, parse(WINBACK), [])
    assert expected == 3
    expect(page.get_by_test_id("builder-count")).to_have_text(str(expected))
    expect(page.locator("#id_conditions")).to_have_value(WINBACK)

    page.get_by_role("button", name="Save audience").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("VIP Winback")
    audience = Audience.objects.get(account=account, name="VIP Winback")
    assert audience.conditions == WINBACK
    expect(page.get_by_test_id("conditions")).to_have_text(WINBACK)
    expect(page.get_by_test_id("member-count")).to_have_text("3")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert download.suggested_filename == "vip-winback.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows == [
        [
            "phone_number",
            "label_last_purchase_days",
            "label_ltv_tier",
            "label_source",
            "label_tier",
        ],
        ["+14155554000", "90", "vip", "", "silver"],
        ["+14155554001", "90", "vip", "", ""],
        ["+14155554002", "90", "vip", "'=cmd|' /C calc'!A0", ""],
    ]


def test_add_label_runs_through_confirmation_to_a_finished_progress_bar(
    page, log_in, settings, editor_user, account, shoppers
):
    settings.TASKS = DATABASE_QUEUE
    audience = Audience.objects.create(account=account, name="VIP Winback", conditions=WINBACK)
    worker = start_worker()
    try:
        log_in(editor_user)
        page.get_by_role("link", name="Audiences", exact=True).click()
        page.get_by_role("link", name="VIP Winback", exact=True).click()
        page.get_by_text("Actions", exact=True).click()
        page.get_by_role("link", name="Add Label", exact=True).click()
        page.get_by_label("Key", exact=True).fill("tier")
        page.get_by_label("Value", exact=True).fill("gold")
        page.get_by_role("button", name="Review the effect").click()

        expect(page.get_by_test_id("preview-matching")).to_have_text("3")
        expect(page.get_by_test_id("preview-gained")).to_have_text("2")
        expect(page.get_by_test_id("preview-replaced")).to_have_text("1")
        expect(page.get_by_test_id("preview-already")).to_have_text("0")
        expect(page.get_by_test_id("preview-skipped")).to_have_text("0")
        assert not Label.objects.filter(key="tier", value="gold").exists()

        page.get_by_role("button", name="Confirm").click()
        progress = page.get_by_test_id("job-progress")
        expect(progress).to_have_attribute("data-status", "succeeded", timeout=30_000)
        expect(page.get_by_test_id("job-status")).to_have_text("Succeeded")
        # Polling stopped: the finished bar carries no trigger any more.
        assert progress.get_attribute("hx-trigger") is None
    finally:
        worker.terminate()
        worker.wait(10)

    member = shoppers[0]
    assert dict(member.labels.values_list("key", "value")) == {
        "ltv_tier": "vip",
        "last_purchase_days": "90",
        "tier": "gold",
    }
    assert dict(shoppers[3].labels.values_list("key", "value")) == {
        "ltv_tier": "vip",
        "last_purchase_days": "30",
    }
    assert audience.label_changes.get().counts == {
        "matching": 3,
        "gained": 2,
        "replaced": 1,
        "already": 0,
        "skipped": 0,
    }
