"""A member added in Settings logs in with the one-time password, must choose their own, and can
change it later from the top bar; an admin's reset gives a new one-time password."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW = "a brand new passphrase"


def log_in_as(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("E-mail or user name").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()


def test_a_new_member_chooses_a_password_at_first_login_and_changes_it_later(
    page, live_server, log_in, admin_user, sending_list
):
    log_in(admin_user)
    page.goto(f"{live_server.url}/a/acme/settings/")
    page.get_by_label("E-mail").fill("ana@acme.test")
    page.get_by_role("button", name="Add member").click()
    one_time = page.get_by_test_id("new-password").locator("code").inner_text()
    page.get_by_role("button", name="Log out").click()

    log_in_as(page, live_server, "ana@acme.test", one_time)
    expect(page).to_have_url(re.compile(r"/password/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
    # Any other page sends her back here until she has.
    page.goto(f"{live_server.url}/a/acme/lists/")
    expect(page).to_have_url(re.compile(r"/password/$"))
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("New password again").fill("something else entirely")
    page.get_by_role("button", name="Save password").click()
    error = page.get_by_role("alert")
    expect(error).to_have_text("The two password fields didn\u2019t match.")
    expect(page.get_by_label("New password again")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("New password again").fill(NEW)
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/a/acme/$"))

    page.get_by_role("link", name="Password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change your password")
    page.get_by_label("Current password").fill(NEW)
    page.get_by_label("New password", exact=True).fill("another good passphrase")
    page.get_by_label("New password again").fill("another good passphrase")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()


def test_an_admin_resets_a_forgotten_password(page, live_server, log_in, admin_user, editor_user):
    log_in(admin_user)
    page.goto(f"{live_server.url}/a/acme/settings/")
    page.get_by_role("button", name="Reset password of editor@acme.test").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Reset the password of editor@acme.test?"
    )
    page.get_by_role("button", name="Reset password").click()
    one_time = page.get_by_test_id("reset-password").locator("code").inner_text()
    page.get_by_role("button", name="Log out").click()

    log_in_as(page, live_server, "editor@acme.test", one_time)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
