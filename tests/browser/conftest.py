"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright cannot download its own browsers here, so the tests launch the system's `chromium`.
Without it they are skipped, unless TRACKLY_REQUIRE_BROWSER=1 (as `.ci/run` sets): then a
missing browser fails them.
"""

import os
import re
import shutil
from collections.abc import Callable, Iterator

import pytest

# Playwright's sync API keeps an event loop in the test thread, which makes Django refuse
# database access as "async unsafe"; this must be set before any test touches the database.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser import plugin
from tests.conftest import PASSWORD

# The flags that run Debian's Chromium headless in these containers (engineering notes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Fail a step after this long, instead of Playwright's 30 seconds (actions) and 5 (assertions).
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


def _chromium_or_skip() -> str:
    """The path of the system's Chromium; skip the test without it, or fail when it is required."""
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("TRACKLY_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "Chromium is not installed, and TRACKLY_REQUIRE_BROWSER=1 requires the browser "
                "tests to run (apt-get install chromium).",
                pytrace=False,
            )
        pytest.skip(plugin.SKIP_REASON)
    return executable


def pytest_configure(config: pytest.Config) -> None:
    # Report skipped browser tests at the end of the run, unless `-p tests.browser.plugin`
    # already did register the plugin (it must, for xdist's controller to have it).
    if not config.pluginmanager.is_registered(plugin):
        config.pluginmanager.register(plugin, "tests.browser.plugin")


# These two replace pytest-playwright's fixtures of the same names, which would launch a
# browser Playwright downloaded; the plugin still adds "[chromium]" to the tests' ids.
@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium per test process (each xdist worker launches its own)."""
    executable = _chromium_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context: no cookies or storage shared between tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def log_in(page: Page, live_server) -> Callable[..., None]:
    """Log a user in through the real login form, as a person would."""

    def log_in(user, password: str = PASSWORD) -> None:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("E-mail or user name").fill(user.username)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Log in", exact=True).click()
        expect(page).not_to_have_url(re.compile(r"/login/"))
        # In the page, though behind Menu in a narrow window.
        expect(page.locator("form[action='/logout/'] button")).to_have_text("Log out")

    return log_in
