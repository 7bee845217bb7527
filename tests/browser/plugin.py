"""Says plainly, at the end of a run, that the browser tests were skipped.

pytest-xdist's controller process does not collect tests, so it never loads
tests/browser/conftest.py; this hook therefore lives in a plugin module of its own, which
tests/browser/conftest.py registers for runs without xdist (see there) and which
`-p tests.browser.plugin` registers for any run.
"""

import pytest

SKIP_REASON = "Chromium is not installed: browser tests skipped"


def _skipped_browser_tests(terminalreporter: pytest.TerminalReporter) -> int:
    count = 0
    for report in terminalreporter.stats.get("skipped", []):
        # A skip's longrepr is (path, line number, "Skipped: <reason>").
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and SKIP_REASON in str(longrepr[-1]):
            count += 1
    return count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    count = _skipped_browser_tests(terminalreporter)
    if count:
        terminalreporter.write_line(
            f"NOTE: {count} browser tests were SKIPPED because Chromium is not installed "
            "(apt-get install chromium)."
        )
