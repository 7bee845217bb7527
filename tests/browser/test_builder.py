"""The audience builder in Chromium: the AND/OR pills, IN values as checkboxes with a search,
and rows that say so while the text is not valid."""

from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from audiences import compiler
from audiences.conditions import parse
from tests.factories import ContactFactory, label_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

A_OR_B_AND_C = "(label:tier = gold OR label:source = facebook) AND label:city = Paris"


@pytest.fixture
def people(sending_list):
    """Contacts whose counts tell `(A OR B) AND C`, `A OR B OR C` and `A AND B AND C` apart."""
    labels = [
        {"tier": "gold", "source": "facebook", "city": "Paris"},
        {"tier": "gold", "city": "Paris"},
        {"source": "facebook", "city": "Lyon"},
        {"tier": "silver", "city": "Paris"},
        {"city": "Parma"},
        {"city": "Sparta"},
    ]
    return [
        label_contact(
            ContactFactory(sending_list=sending_list, phone_number=f"+1415555{5000 + i}"), each
        )
        for i, each in enumerate(labels)
    ]


def _builder_response(page: Page):
    return page.expect_response(lambda response: "/audiences/builder/" in response.url)


def _open_builder(page: Page, live_server, conditions: str) -> None:
    page.goto(f"{live_server.url}/a/acme/audiences/new/?{_query(conditions)}")


def _query(conditions: str) -> str:
    return urlencode({"conditions": conditions})


def test_the_pill_between_groups_switches_only_that_join(
    page, log_in, live_server, editor_user, account, people
):
    log_in(editor_user)
    _open_builder(page, live_server, A_OR_B_AND_C)
    count = page.get_by_test_id("builder-count")
    expect(count).to_have_text("2")
    text = page.locator("#id_conditions")
    expect(text).to_have_value(A_OR_B_AND_C)

    with _builder_response(page):
        page.get_by_test_id("join-1").click()
    either = "label:tier = gold OR label:source = facebook OR label:city = Paris"
    expect(text).to_have_value(either)
    expect(count).to_have_text(str(compiler.count_members(account, parse(either), [])))
    expect(count).to_have_text("4")
    # The rows inside the first group are still joined by OR, the pill between groups says OR.
    expect(page.get_by_test_id("row-join-0-1")).to_have_text("OR")
    expect(page.get_by_test_id("join-1")).to_have_text("OR")

    with _builder_response(page):
        page.get_by_test_id("join-1").click()
    expect(text).to_have_value(A_OR_B_AND_C)
    expect(count).to_have_text("2")

    # The pill inside a group switches that group only.
    with _builder_response(page):
        page.get_by_test_id("row-join-0-1").click()
    expect(text).to_have_value(
        "label:tier = gold AND label:source = facebook AND label:city = Paris"
    )
    expect(count).to_have_text("1")


def test_in_values_are_ticked_and_searched_without_ctrl_click(
    page, log_in, live_server, editor_user, people
):
    log_in(editor_user)
    _open_builder(page, live_server, "label:city IN [Paris]")
    expect(page.get_by_test_id("builder-count")).to_have_text("3")
    choices = page.locator("#g0-r0-values")
    expect(choices.get_by_role("checkbox")).to_have_count(4)
    expect(choices.get_by_role("checkbox", name="Paris")).to_be_checked()

    with _builder_response(page):
        choices.get_by_role("checkbox", name="Lyon").check()
    text = page.locator("#id_conditions")
    expect(text).to_have_value("label:city IN [Paris, Lyon]")
    expect(page.get_by_test_id("builder-count")).to_have_text("4")

    # Typing searches the values: the prefix "Par" first, then "Sparta", which contains "par";
    # the ticked values stay in the list.
    search = page.get_by_label("Search values of city")
    with page.expect_response(lambda response: "/builder/values/" in response.url):
        search.fill("Par")
    expect(page.locator("#g0-r0-values .value-text")).to_have_text(
        ["Paris", "Lyon", "Parma", "Sparta"]
    )
    with _builder_response(page):
        page.locator("#g0-r0-values").get_by_role("checkbox", name="Sparta").check()
    expect(text).to_have_value("label:city IN [Paris, Lyon, Sparta]")
    expect(page.get_by_test_id("builder-count")).to_have_text("5")
    # The search stays as typed after the builder answered, and Enter does not save the form.
    expect(page.get_by_label("Search values of city")).to_have_value("Par")
    page.get_by_label("Search values of city").press("Enter")
    expect(page).to_have_url(
        f"{live_server.url}/a/acme/audiences/new/?{_query('label:city IN [Paris]')}"
    )


def test_rows_say_the_text_is_not_valid_and_never_overwrite_it(
    page, log_in, live_server, editor_user, people
):
    log_in(editor_user)
    _open_builder(page, live_server, "label:tier = gold")
    text = page.locator("#id_conditions")
    expect(page.get_by_test_id("builder-count")).to_have_text("2")

    typed = "label:tier = gold AND ("
    with _builder_response(page):
        text.fill(typed)
    expect(page.get_by_test_id("rows-stale")).to_contain_text(
        "The conditions text below is not valid"
    )
    expect(page.get_by_test_id("text-error")).to_have_text("expected a condition at column 24")
    expect(page.get_by_test_id("builder-count")).to_have_text("—")
    # The rows cannot be changed while they are out of date.
    key = page.locator("select[name='g0-r0-key']")
    expect(page.locator(".builder-body")).to_have_attribute("inert", "")
    with pytest.raises(PlaywrightTimeoutError):
        key.select_option("city", timeout=1_000)
    expect(text).to_have_value(typed)

    fixed = "label:tier = gold AND label:city = Paris"
    with _builder_response(page):
        text.fill(fixed)
    expect(page.get_by_test_id("rows-stale")).to_have_count(0)
    expect(page.get_by_test_id("builder-count")).to_have_text("2")
    expect(page.locator("select[name='g1-r0-key']")).to_have_value("city")
