"""The Edit Labels panel of a contact, driven in Chromium: htmx swaps, CSRF and all."""

import pytest
from playwright.sync_api import Page, expect

from tests.factories import label_contact
from trackly.phones import display_phone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _labels(contact) -> dict[str, str]:
    return dict(contact.labels.order_by("key").values_list("key", "value"))


def _open_contact(page: Page, contact) -> None:
    """From the sending lists, open the contact's list and then the contact, by their links."""
    page.get_by_role("link", name=contact.sending_list.name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(contact.sending_list.name)
    page.get_by_role("link", name=display_phone(contact.phone_number), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(contact.phone_number)


def _shown_labels(page: Page) -> list[tuple[str, str]]:
    rows = page.get_by_test_id("labels").locator("tbody tr")
    return [
        (row.locator("td").nth(0).inner_text(), row.locator("td").nth(1).inner_text())
        for row in rows.all()
    ]


def _edit_labels(page: Page) -> None:
    page.get_by_role("link", name="Edit Labels", exact=True).click()
    expect(page.get_by_label("Key 1", exact=True)).to_be_visible()


def _add_row(page: Page, number: int) -> None:
    page.get_by_role("button", name="+ Add label", exact=True).click()
    expect(page.get_by_label(f"Key {number}", exact=True)).to_be_visible()


def test_editor_adds_and_changes_labels(page, log_in, editor_user, contact):
    log_in(editor_user)
    _open_contact(page, contact)
    assert _shown_labels(page) == [("source", "facebook"), ("tier", "gold")]

    _edit_labels(page)
    expect(page.get_by_label("Key 1", exact=True)).to_have_value("source")
    expect(page.get_by_label("Key 2", exact=True)).to_have_value("tier")
    page.get_by_label("Value 2", exact=True).fill("platinum")
    _add_row(page, 3)
    page.get_by_label("Key 3", exact=True).fill("city")
    page.get_by_label("Value 3", exact=True).fill("Lisbon, Portugal")
    _add_row(page, 4)
    # Adding a row posts the rows typed so far: they must come back unchanged.
    expect(page.get_by_label("Value 2", exact=True)).to_have_value("platinum")
    expect(page.get_by_label("Key 3", exact=True)).to_have_value("city")
    page.get_by_label("Key 4", exact=True).fill("plan")
    page.get_by_label("Value 4", exact=True).fill("pro")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Labels saved.")
    expected = {"city": "Lisbon, Portugal", "plan": "pro", "source": "facebook", "tier": "platinum"}
    assert _labels(contact) == expected
    page.reload()
    assert _shown_labels(page) == sorted(expected.items())
    expect(page.get_by_text("4 of 50 labels.", exact=True)).to_be_visible()


def test_editor_removes_a_label(page, log_in, editor_user, contact):
    log_in(editor_user)
    _open_contact(page, contact)
    _edit_labels(page)

    page.get_by_role("button", name="Remove label 1", exact=True).click()
    expect(page.get_by_label("Key 1", exact=True)).to_have_value("tier")
    expect(page.get_by_label("Key 2", exact=True)).to_have_count(0)
    # Removing a row only changes the form; nothing is saved until Save.
    assert _labels(contact) == {"source": "facebook", "tier": "gold"}
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Labels saved.")
    assert _labels(contact) == {"tier": "gold"}
    page.reload()
    assert _shown_labels(page) == [("tier", "gold")]


def test_invalid_key_shows_its_error_in_place_and_saves_nothing(page, log_in, editor_user, contact):
    log_in(editor_user)
    _open_contact(page, contact)
    contact_url = page.url
    # A full page load would lose this; an htmx swap keeps it.
    page.evaluate("window.tracklyMarker = 'no reload'")

    _edit_labels(page)
    page.get_by_label("Value 2", exact=True).fill("platinum")
    _add_row(page, 3)
    page.get_by_label("Key 3", exact=True).fill("bad key!")
    page.get_by_label("Value 3", exact=True).fill("x")
    page.get_by_role("button", name="Save", exact=True).click()

    error = page.get_by_test_id("key-error")
    expect(error).to_have_text(
        "Label key 'bad key!' may only contain letters, digits, '_' and '-'."
    )
    expect(error).to_have_count(1)
    # The error sits in the invalid row, beside the key it is about, and the rows keep their input.
    invalid_row = page.get_by_test_id("label-row").nth(2)
    expect(invalid_row.get_by_test_id("key-error")).to_be_visible()
    expect(page.get_by_label("Key 3", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Key 3", exact=True)).to_have_value("bad key!")
    expect(page.get_by_label("Value 2", exact=True)).to_have_value("platinum")
    assert page.evaluate("window.tracklyMarker") == "no reload"
    assert page.url == contact_url

    # All or nothing: the valid change beside the invalid row is not saved either.
    assert _labels(contact) == {"source": "facebook", "tier": "gold"}
    page.reload()
    assert _shown_labels(page) == [("source", "facebook"), ("tier", "gold")]


@pytest.mark.parametrize("width", [1280, 390])
def test_errors_take_the_focus_stay_in_view_and_are_announced(
    page, log_in, editor_user, contact, width
):
    label_contact(contact, {f"key_{number:02d}": f"value {number}" for number in range(30)})
    log_in(editor_user)
    page.set_viewport_size({"width": width, "height": 800})
    _open_contact(page, contact)
    _edit_labels(page)
    # Row 25 of 32 (source, tier and 30 more in key order) is far below the first screen.
    page.get_by_label("Key 25", exact=True).fill("bad key!")
    page.get_by_label("Value 27", exact=True).fill(" ")
    page.get_by_role("button", name="Save", exact=True).click()

    summary = page.get_by_test_id("error-summary")
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_contain_text("2 problems: nothing was saved.")
    expect(summary.get_by_role("link")).to_have_text(
        [
            "Key 25: Label key 'bad key!' may only contain letters, digits, '_' and '-'.",
            "Value 27: Label value is empty.",
        ]
    )
    key = page.get_by_label("Key 25", exact=True)
    expect(key).to_be_focused()
    expect(key).to_have_attribute("aria-invalid", "true")
    expect(key).to_have_accessible_description(
        "Label key 'bad key!' may only contain letters, digits, '_' and '-'."
    )
    # In the window, and above the sticky Save bar rather than under it.
    box = key.bounding_box()
    bar = page.locator("#labels-panel .actions").bounding_box()
    assert box["y"] >= 0
    assert box["y"] + box["height"] <= bar["y"]
    error_box = page.locator("#label-key-25-error").bounding_box()
    assert error_box["y"] + error_box["height"] <= bar["y"]
