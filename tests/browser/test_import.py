"""CSV import in Chromium: upload, preview, confirm, a worker runs it, rejected rows download."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from contacts.models import Contact, Label
from tests.workers import DATABASE_QUEUE, start_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FILE = (
    "phone_number,label_source,label_campaign,label_tier\r\n"
    "+14155551234,facebook,summer2024,gold\r\n"
    "(415) 555-0142,google,,silver\r\n"
    "not a phone,facebook,summer2024,gold\r\n"
    "4155550143,bad\tvalue,x,y\r\n"
)


def test_upload_preview_confirm_and_download_the_rejected_rows(
    page, log_in, settings, tmp_path, editor_user, sending_list
):
    settings.TASKS = DATABASE_QUEUE
    upload = tmp_path / "contacts.csv"
    upload.write_text(FILE, encoding="utf-8")
    worker = start_worker()
    try:
        log_in(editor_user)
        page.get_by_role("link", name=sending_list.name, exact=True).click()
        page.get_by_role("link", name="Import CSV", exact=True).click()
        page.get_by_label("CSV file").set_input_files(str(upload))
        page.get_by_role("button", name="Preview the import").click()

        status = page.get_by_test_id("import-status")
        expect(status).to_have_attribute("data-status", "succeeded", timeout=30_000)
        # A dry run changed nothing: it is a preview that is ready, not a success.
        expect(page.get_by_test_id("job-status")).to_have_text("Preview ready")
        expect(page.get_by_test_id("count-rows")).to_have_text("4")
        expect(page.get_by_test_id("count-created")).to_have_text("2")
        expect(page.get_by_test_id("count-rejected")).to_have_text("2")
        assert not Contact.objects.exists()

        page.get_by_test_id("confirm").click()
        status = page.get_by_test_id("import-status")
        expect(page.get_by_test_id("job-status")).to_have_text("Succeeded", timeout=30_000)
        expect(page.get_by_test_id("count-created")).to_have_text("2")
        assert status.get_attribute("hx-trigger") is None

        with page.expect_download() as download_info:
            page.get_by_test_id("rejected-download").click()
        rejected = Path(download_info.value.path()).read_text(encoding="utf-8")
    finally:
        worker.terminate()
        worker.wait(10)

    rows = list(csv.reader(io.StringIO(rejected)))
    assert rows[0] == ["row", "phone_number", "reason"]
    assert [(row[0], row[1]) for row in rows[1:]] == [("4", "not a phone"), ("5", "4155550143")]
    assert rows[1][2] == "'not a phone' is not a valid phone number (read with region US)."
    labels = {
        phone: dict(Label.objects.filter(contact__phone_number=phone).values_list("key", "value"))
        for phone in Contact.objects.values_list("phone_number", flat=True)
    }
    assert labels == {
        "+14155551234": {"source": "facebook", "campaign": "summer2024", "tier": "gold"},
        "+14155550142": {"source": "google", "tier": "silver"},
    }
