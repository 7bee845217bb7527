"""Jobs in Chromium: each says what it did and to what, and links its audit log entry and back."""

import pytest
from playwright.sync_api import expect

from audiences import services
from audiences.models import Audience
from tests.factories import ContactFactory, label_contact
from trackly.models import Job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_label_job_says_what_and_links_its_audit_entry_and_back(
    page, log_in, live_server, editor_user, account, sending_list
):
    label_contact(ContactFactory(sending_list=sending_list), {"vip": "1"})
    audience = Audience.objects.create(account=account, name="VIP Winback", conditions="vip = 1")
    change = services.label_change_start(
        account=account,
        user=editor_user,
        action="add",
        key="tier",
        value="gold",
        audience=audience,
        target=audience.name,
        selection=services.audience_selection(audience),
    )
    preview = Job.objects.create(
        account=account, kind=Job.Kind.IMPORT_PREVIEW, params={"file_name": "shoes.csv"}
    )
    Job.objects.filter(pk=preview.pk).update(status=Job.Status.SUCCEEDED)
    log_in(editor_user)

    page.goto(f"{live_server.url}/a/acme/jobs/")
    rows = page.locator("table.table tbody tr")
    expect(rows.nth(0)).to_contain_text("Preview of importing shoes.csv")
    expect(rows.nth(0).locator(".status")).to_have_text("Preview ready")
    expect(rows.nth(1)).to_contain_text("Add label tier=gold to the audience “VIP Winback”")
    expect(rows.nth(1).locator(".status")).to_have_text("Succeeded")

    page.get_by_role("link", name="Add label tier=gold to the audience “VIP Winback”").click()
    expect(page.get_by_test_id("job-title")).to_contain_text(
        "Add label tier=gold to the audience “VIP Winback”"
    )
    expect(page.get_by_test_id("job-facts")).to_contain_text("Add label tier=gold")
    expect(page.get_by_test_id("job-result")).to_contain_text("Gained")

    page.get_by_test_id("audit-link").click()
    expect(page.get_by_test_id("one-change")).to_be_visible()
    entry = page.locator(f"#change-{change.pk}")
    expect(entry).to_contain_text("Add label tier=gold")
    expect(entry).to_contain_text("VIP Winback")
    page.get_by_test_id(f"job-link-{change.pk}").click()
    expect(page).to_have_url(f"{live_server.url}/a/acme/jobs/{change.job_id}/")
