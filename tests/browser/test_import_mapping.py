"""The import preview's columns in Chromium: a `Phone Number` column found, a `Company Type`
column turned into a label, the preview run again, the import confirmed."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from contacts.models import Label
from tests.workers import DATABASE_QUEUE, start_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# An export of another product, imported by a UK account: one US number without its country.
FILE = (
    "Phone Number,Company Type,Notes,,\r\n"
    "020 7946 0018,Retail,Met at the fair,,\r\n"
    "07911 123456,Wholesale,,,\r\n"
    "(212) 555-0100,Retail,,,\r\n"
)


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _shoot(page, name: str) -> None:
    """Save a screenshot where TRACKLY_SHOTS says, to look at the page."""
    shots = os.environ.get("TRACKLY_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / name), full_page=True)


def test_a_column_becomes_a_label_in_the_preview_and_the_import_sets_it(
    page, log_in, settings, tmp_path, account, editor_user, sending_list
):
    account.default_region = "GB"
    account.save()
    settings.TASKS = DATABASE_QUEUE
    upload = tmp_path / "export.csv"
    upload.write_text(FILE, encoding="utf-8")
    worker = start_worker()
    try:
        log_in(editor_user)
        page.get_by_role("link", name=sending_list.name, exact=True).click()
        page.get_by_role("link", name="Import CSV", exact=True).click()
        page.get_by_label("CSV file").set_input_files(str(upload))
        page.get_by_role("button", name="Preview the import").click()
        expect(page.get_by_test_id("import-status")).to_have_attribute(
            "data-status", "succeeded", timeout=30_000
        )
        expect(page.get_by_test_id("use-Phone Number")).to_have_value("phone")
        expect(page.get_by_test_id("use-Company Type")).to_have_value("ignored")
        expect(page.get_by_test_id("key-Company Type")).to_have_value("Company_Type")
        expect(page.get_by_test_id("ignored-columns")).to_have_text(
            "2 unnamed empty columns ignored."
        )
        expect(page.get_by_test_id("other-regions")).to_contain_text("(212) 555-0100")
        expect(page.get_by_test_id("region")).to_have_value("GB")
        page.set_viewport_size({"width": 1366, "height": 900})
        _shoot(page, "preview-1366.png")
        page.set_viewport_size({"width": 390, "height": 844})
        assert _fits(page)
        _shoot(page, "preview-390.png")
        page.set_viewport_size({"width": 1366, "height": 900})

        page.get_by_test_id("use-Company Type").select_option("label")
        page.get_by_test_id("region").select_option("US")
        page.get_by_test_id("preview-again").click()
        expect(page.get_by_test_id("import-status")).to_have_attribute(
            "data-status", "succeeded", timeout=30_000
        )
        expect(page.get_by_test_id("use-Company Type")).to_have_value("label")
        expect(page.get_by_test_id("region")).to_have_value("US")
        _shoot(page, "preview-again-1366.png")

        page.get_by_test_id("confirm").click()
        expect(page.get_by_test_id("job-status")).to_have_text("Succeeded", timeout=30_000)
        expect(page.get_by_test_id("count-created")).to_have_text("1")
    finally:
        worker.terminate()
        worker.wait(10)

    labels = dict(Label.objects.values_list("contact__phone_number", "key"))
    assert labels == {"+12125550100": "Company_Type"}
    assert Label.objects.get().value == "Retail"


def test_a_file_without_a_known_phone_column_is_previewed_with_the_column_chosen(
    page, log_in, settings, tmp_path, editor_user, sending_list
):
    settings.TASKS = DATABASE_QUEUE
    upload = tmp_path / "numeros.csv"
    upload.write_text("Nom,Numero\r\nAnn,4155551234\r\n", encoding="utf-8")
    worker = start_worker()
    try:
        log_in(editor_user)
        page.get_by_role("link", name=sending_list.name, exact=True).click()
        page.get_by_role("link", name="Import CSV", exact=True).click()
        page.get_by_label("CSV file").set_input_files(str(upload))
        page.get_by_role("button", name="Preview the import").click()
        expect(page.get_by_test_id("upload-error")).to_contain_text("The file has no phone column")
        page.set_viewport_size({"width": 390, "height": 844})
        assert _fits(page)
        _shoot(page, "upload-choose-phone-390.png")
        page.get_by_label("The column that holds the phone numbers").select_option("Numero")
        page.get_by_label("CSV file").set_input_files(str(upload))
        page.get_by_role("button", name="Preview the import").click()
        expect(page.get_by_test_id("import-status")).to_have_attribute(
            "data-status", "succeeded", timeout=30_000
        )
        expect(page.get_by_test_id("use-Numero")).to_have_value("phone")
        expect(page.get_by_test_id("count-created")).to_have_text("1")
    finally:
        worker.terminate()
        worker.wait(10)


def test_an_unnamed_column_given_a_key_in_the_preview_becomes_a_label(
    page, log_in, settings, tmp_path, editor_user, sending_list
):
    settings.TASKS = DATABASE_QUEUE
    upload = tmp_path / "export.csv"
    # Column 2 has no name but holds each contact's tier; column 4 is empty.
    upload.write_text(
        "phone,,Notes,\r\n4155551234,gold,VIP at the fair,\r\n4155551235,,,\r\n", encoding="utf-8"
    )
    worker = start_worker()
    try:
        log_in(editor_user)
        page.get_by_role("link", name=sending_list.name, exact=True).click()
        page.get_by_role("link", name="Import CSV", exact=True).click()
        page.get_by_label("CSV file").set_input_files(str(upload))
        page.get_by_role("button", name="Preview the import").click()
        expect(page.get_by_test_id("import-status")).to_have_attribute(
            "data-status", "succeeded", timeout=30_000
        )
        expect(page.get_by_test_id("use-2")).to_contain_text("Ignored")
        expect(page.get_by_test_id("ignored-columns")).to_have_text(
            "1 unnamed empty column ignored. 1 unnamed column ignored."
        )
        page.get_by_label("Label key for column 2").fill("tier")
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 900})
            assert _fits(page)
            _shoot(page, f"preview-unnamed-{width}.png")
        page.set_viewport_size({"width": 1366, "height": 900})

        page.get_by_test_id("preview-again").click()
        expect(page.get_by_test_id("import-status")).to_have_attribute(
            "data-status", "succeeded", timeout=30_000
        )
        expect(page.get_by_test_id("use-2")).to_contain_text("Label")
        expect(page.get_by_label("Label key for column 2")).to_have_value("tier")
        expect(page.get_by_test_id("ignored-columns")).to_have_text(
            "1 unnamed empty column ignored."
        )
        page.get_by_test_id("confirm").click()
        expect(page.get_by_test_id("job-status")).to_have_text("Succeeded", timeout=30_000)
        expect(page.get_by_test_id("count-created")).to_have_text("2")
    finally:
        worker.terminate()
        worker.wait(10)

    labels = dict(Label.objects.values_list("contact__phone_number", "key"))
    assert labels == {"+14155551234": "tier"}
    assert Label.objects.get().value == "gold"
