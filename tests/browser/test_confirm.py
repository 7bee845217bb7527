"""Destructive actions ask first, with JavaScript off as well as on: Revoke key, Archive list,
Archive audience and Remove member each show a confirm page; Cancel changes nothing."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from audiences.models import Audience
from contacts.models import SendingList
from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import PASSWORD
from trackly.api_keys import api_key_create
from trackly.models import ApiKey, Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=[False, True], ids=["without-js", "with-js"])
def any_page(request, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=request.param
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def log_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("E-mail or user name").fill(user.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()


def ask_cancel_then_confirm(page: Page, click, title: str, button: str) -> None:
    click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name=title)).to_have_count(0)
    click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    page.get_by_role("button", name=button).click()


def test_revoke_key_asks_first(any_page, live_server, admin_user, account):
    api_key, _ = api_key_create(account=account, name="Shop CRM")
    log_in(any_page, live_server, admin_user)
    any_page.goto(f"{live_server.url}/a/acme/settings/api-keys/")

    def click():
        any_page.get_by_role("button", name="Revoke Shop CRM").click()

    click()
    expect(any_page.get_by_role("heading", level=1)).to_have_text("Revoke the key “Shop CRM”?")
    any_page.get_by_role("link", name="Cancel").click()
    expect(any_page).to_have_url(re.compile(r"/settings/api-keys/$"))
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    click()
    any_page.get_by_role("button", name="Revoke key").click()
    expect(any_page.get_by_text("The key “Shop CRM”")).to_contain_text("is revoked.")
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None


def test_archive_list_asks_first(any_page, live_server, admin_user, sending_list):
    log_in(any_page, live_server, admin_user)
    any_page.goto(f"{live_server.url}/a/acme/lists/{sending_list.pk}/")

    def click():
        any_page.get_by_text("List settings").click()
        any_page.get_by_role("button", name="Archive list").click()

    ask_cancel_then_confirm(any_page, click, "Archive “Main”?", "Archive list")
    expect(any_page.get_by_test_id("archived-note")).to_be_visible()
    # An archived list offers no Import CSV, Add contact or bulk actions.
    expect(any_page.get_by_role("link", name="Import CSV")).to_have_count(0)
    expect(any_page.get_by_role("link", name="Add contact")).to_have_count(0)
    expect(any_page.get_by_label("Bulk action")).to_have_count(0)
    assert SendingList.objects.get(pk=sending_list.pk).is_archived


def test_archive_audience_asks_first(any_page, live_server, editor_user, account, admin_user):
    audience = Audience.objects.create(
        account=account, name="VIPs", conditions="label:tier = vip", created_by=admin_user
    )
    log_in(any_page, live_server, editor_user)
    any_page.goto(f"{live_server.url}/a/acme/audiences/{audience.pk}/")

    def click():
        any_page.get_by_role("button", name="Archive", exact=True).click()

    ask_cancel_then_confirm(any_page, click, "Archive “VIPs”?", "Archive audience")
    expect(any_page.get_by_text("Audience “VIPs” archived.")).to_be_visible()
    assert Audience.objects.get(pk=audience.pk).is_archived


def test_remove_member_asks_first(any_page, live_server, admin_user, editor_user):
    log_in(any_page, live_server, admin_user)
    any_page.goto(f"{live_server.url}/a/acme/settings/")

    def click():
        any_page.get_by_role("button", name="Remove editor@acme.test").click()

    ask_cancel_then_confirm(
        any_page, click, "Remove editor@acme.test from Acme Shoes?", "Remove member"
    )
    expect(any_page.get_by_text("editor@acme.test removed from the account.")).to_be_visible()
    assert not Membership.objects.filter(user=editor_user).exists()
