"""axe-core (vendored under tests/browser/vendor) on every dashboard page at 1366 and 390 px:
WCAG 2.1 A and AA rules, colour contrast and labels on every control included. A page with a
violation fails with the rule, how many elements break it and the first of them;
TRACKLY_AXE_REPORT=DIR also writes each page's result to DIR/axe-WIDTH.json."""

import json
import os
from pathlib import Path

import pytest

from tests.browser.pages import dashboard_paths, demo_like_world, html_pages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text(encoding="utf-8")
RUN_AXE = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    resultTypes: ["violations"],
  });
  return result.violations.map(v => [v.id, v.nodes.length, v.nodes[0].target.join(" ")]);
}"""


def axe_violations(page) -> list:
    # Evaluated through the DevTools protocol, which the pages' CSP does not govern.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    return page.evaluate(RUN_AXE)


@pytest.fixture
def world(account, sending_list, admin_user, editor_user, viewer_user):
    return demo_like_world(account, sending_list, admin_user, editor_user, viewer_user)


@pytest.mark.parametrize("width", [1366, 390])
def test_every_dashboard_page_passes_axe(page, live_server, log_in, admin_user, world, width):
    log_in(admin_user)
    page.set_viewport_size({"width": width, "height": 900})
    urls = html_pages(page, live_server, dashboard_paths(world))
    urls.append(f"{live_server.url}/password/")
    results = {}
    for url in urls:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        results[url.removeprefix(live_server.url)] = axe_violations(page)
    if os.environ.get("TRACKLY_AXE_REPORT"):
        # One JSON file per width: each page's violations (empty when it passes).
        report = Path(os.environ["TRACKLY_AXE_REPORT"]) / f"axe-{width}.json"
        report.write_text(json.dumps(results, indent=1))
    failing = {path: violations for path, violations in results.items() if violations}
    assert failing == {}
    assert len(results) >= 16


def test_the_login_and_an_error_summary_pass_axe(page, live_server, log_in, editor_user, world):
    page.goto(f"{live_server.url}/login/")
    assert axe_violations(page) == []
    log_in(editor_user)
    page.goto(f"{live_server.url}/a/acme/contacts/{world['contact_id']}/labels/")
    page.get_by_label("Key 1", exact=True).fill("bad key!")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_test_id("error-summary").wait_for()
    assert axe_violations(page) == []
