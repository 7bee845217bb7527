"""IN AUDIENCE and static audiences in Chromium: an audience built with an "Audience" row, saved,
frozen as static, and changed by Add Label."""

import pytest
from playwright.sync_api import Page, expect

from audiences.models import Audience
from tests.factories import ContactFactory, label_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADD_LABEL_ROW = "Add condition \u203a Label"
ADD_AUDIENCE_ROW = "Add condition \u203a Audience"
ENGAGED_NOT_VIP = 'label:engagement = high AND NOT IN AUDIENCE "VIP Winback"'


@pytest.fixture
def people(account, sending_list):
    """Two engaged contacts outside "VIP Winback" (the audience's members), and two VIPs."""
    labels = [
        {"ltv_tier": "vip", "engagement": "high"},
        {"ltv_tier": "vip", "engagement": "low"},
        {"ltv_tier": "regular", "engagement": "high"},
        {"engagement": "high"},
    ]
    return [
        label_contact(
            ContactFactory(sending_list=sending_list, phone_number=f"+1415555{6000 + i}"), each
        )
        for i, each in enumerate(labels)
    ]


@pytest.fixture
def vip_winback(account):
    return Audience.objects.create(
        account=account, name="VIP Winback", conditions="label:ltv_tier = vip"
    )


def _pick(page: Page, name: str, value: str) -> None:
    with page.expect_response(lambda response: "/audiences/builder/" in response.url):
        page.locator(f"select[name='{name}']").select_option(value)


def _builder_button(page: Page, name: str) -> None:
    with page.expect_response(lambda response: "/audiences/builder/" in response.url):
        page.get_by_role("button", name=name).click()


def test_in_audience_built_saved_frozen_and_labelled(
    page, log_in, live_server, editor_user, account, people, vip_winback
):
    log_in(editor_user)
    page.goto(f"{live_server.url}/a/acme/audiences/new/")
    page.get_by_label("Name", exact=True).fill("Engaged, not VIP")

    _builder_button(page, ADD_LABEL_ROW)
    _pick(page, "g0-r0-key", "engagement")
    _pick(page, "g0-r0-value", "high")
    expect(page.get_by_test_id("builder-count")).to_have_text("3")

    _builder_button(page, ADD_AUDIENCE_ROW)
    # The dropdown lists the saved audiences with their member counts.
    expect(page.locator("select[name='g1-r0-audience'] option")).to_have_text(
        ["Audience…", "VIP Winback (2)"]
    )
    _pick(page, "g1-r0-aop", "NOT IN AUDIENCE")
    _pick(page, "g1-r0-audience", str(vip_winback.pk))
    expect(page.get_by_test_id("builder-count")).to_have_text("2")
    expect(page.locator("#id_conditions")).to_have_value(ENGAGED_NOT_VIP)

    page.get_by_role("button", name="Save audience").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Engaged, not VIP")
    expect(page.get_by_test_id("conditions")).to_have_text(ENGAGED_NOT_VIP)
    expect(page.get_by_test_id("member-count")).to_have_text("2")
    saved = Audience.objects.get(name="Engaged, not VIP")
    assert saved.conditions == f"label:engagement = high AND NOT IN AUDIENCE #{vip_winback.pk}"

    # Save as static: a new static audience of today's two members.
    page.get_by_text("Actions", exact=True).click()
    page.get_by_role("link", name="Save as static", exact=True).click()
    expect(page.get_by_test_id("freeze-count")).to_have_text("2")
    expect(page.get_by_label("Name of the static audience")).to_have_value(
        "Engaged, not VIP (static)"
    )
    page.get_by_role("button", name="Save as static").click()
    expect(page.get_by_test_id("job-progress")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("kind")).to_have_text("Static")
    expect(page.get_by_test_id("member-count")).to_have_text("2")
    static = Audience.objects.get(name="Engaged, not VIP (static)")
    assert static.kind == "static"

    # Add Label on the static audience.
    page.get_by_text("Actions", exact=True).click()
    page.get_by_role("link", name="Add Label", exact=True).click()
    page.get_by_label("Key", exact=True).fill("winback")
    page.get_by_label("Value", exact=True).fill("2025")
    page.get_by_role("button", name="Review the effect").click()
    expect(page.get_by_test_id("preview-matching")).to_have_text("2")
    expect(page.get_by_test_id("preview-gained")).to_have_text("2")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_test_id("job-progress")).to_have_attribute("data-status", "succeeded")

    member = people[2]
    page.goto(f"{live_server.url}/a/acme/contacts/{member.pk}/")
    expect(page.locator("main")).to_contain_text("winback")
    assert dict(member.labels.values_list("key", "value")) == {
        "ltv_tier": "regular",
        "engagement": "high",
        "winback": "2025",
    }
    assert not people[0].labels.filter(key="winback").exists()
