"""At 390 px nothing is wider than the window on any dashboard page: tables scroll inside their
own box, the top bar folds behind Menu (with or without JavaScript), and long label keys wrap
instead of being cut."""

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import TIMEOUT_MS
from tests.browser.pages import LONG_KEY, dashboard_paths, demo_like_world, html_pages
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NARROW = {"width": 390, "height": 844}
# The elements that reach past the window's right edge, for the failure message.
WIDEST = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .slice(0, 5)
  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


@pytest.fixture
def world(account, sending_list, admin_user, editor_user, viewer_user):
    return demo_like_world(account, sending_list, admin_user, editor_user, viewer_user)


def test_no_dashboard_page_is_wider_than_390_px(page, live_server, log_in, admin_user, world):
    log_in(admin_user)
    page.set_viewport_size(NARROW)
    urls = html_pages(page, live_server, dashboard_paths(world))
    assert len(urls) >= 15, urls
    too_wide = []
    for path in urls:
        page.goto(path)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            too_wide.append((path, widths[0], page.evaluate(WIDEST)))
    assert too_wide == []


def test_the_contacts_table_scrolls_in_its_own_box_and_keys_are_whole(
    page, live_server, log_in, admin_user, world, sending_list
):
    log_in(admin_user)
    page.set_viewport_size(NARROW)
    page.goto(f"{live_server.url}/a/acme/lists/{sending_list.pk}/")
    table = page.locator("#contacts-table table")
    assert table.evaluate("t => t.scrollWidth > t.clientWidth || t.clientWidth <= 390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    chip_key = page.locator(".chip-key", has_text=LONG_KEY).first
    assert chip_key.evaluate("k => k.scrollWidth <= k.clientWidth")


def test_revoke_is_reachable_on_the_api_keys_page(page, live_server, log_in, admin_user, world):
    log_in(admin_user)
    page.set_viewport_size(NARROW)
    page.goto(f"{live_server.url}/a/acme/settings/api-keys/")
    revoke = page.get_by_role("button", name="Revoke Reports")
    revoke.scroll_into_view_if_needed()
    expect(revoke).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_the_navigation_folds_behind_menu(browser: Browser, live_server, admin_user, javascript):
    context = browser.new_context(viewport=NARROW, java_script_enabled=javascript)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("E-mail or user name").fill(admin_user.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    audiences = page.get_by_role("navigation", name="Main").get_by_role("link", name="Audiences")
    expect(audiences).to_be_hidden()
    expect(page.get_by_role("button", name="Log out")).to_be_hidden()
    page.get_by_text("Menu", exact=True).click()
    expect(audiences).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    audiences.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Audiences")
    expect(audiences).to_be_hidden()
    # Wide windows show the bar in full, with no Menu.
    page.set_viewport_size({"width": 1366, "height": 900})
    expect(audiences).to_be_visible()
    expect(page.get_by_text("Menu", exact=True)).to_be_hidden()
    context.close()
