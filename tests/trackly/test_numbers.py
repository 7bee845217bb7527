"""One number format on every page (60,277), counts with their noun in the right number
("1 contact"), and bulk-action titles that name filters in words, not parameter names."""

import pytest
from django.template import Context, Template
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from contacts.models import Contact
from trackly.text import counted


@pytest.mark.parametrize(
    ("number", "expected"),
    [(0, "0 contacts"), (1, "1 contact"), (2, "2 contacts"), (60277, "60,277 contacts")],
)
def test_counted(number, expected):
    assert counted(number, "contact") == expected


def test_counted_with_an_irregular_plural():
    assert (counted(1, "entry", "entries"), counted(1200, "entry", "entries")) == (
        "1 entry",
        "1,200 entries",
    )


@given(st.integers(min_value=0, max_value=10**12))
def test_counted_groups_thousands_and_reads_back(number):
    text = counted(number, "row")
    digits, noun = text.split(" ")
    assert int(digits.replace(",", "")) == number
    assert noun == ("row" if number == 1 else "rows")
    assert all(len(group) == 3 for group in digits.split(",")[1:])


def test_the_template_filter():
    template = Template(
        '{% load trackly %}{{ a|counted:"contact" }} / {{ b|counted:"entry,entries" }}'
    )
    assert template.render(Context({"a": 1, "b": 60277})) == "1 contact / 60,277 entries"


def test_the_sending_lists_page_groups_thousands(viewer_client, sending_list):
    Contact.objects.bulk_create(
        Contact(
            account_id=sending_list.account_id,
            sending_list=sending_list,
            phone_number=f"+1415556{number:04d}",
        )
        for number in range(1234)
    )
    html = viewer_client.get(reverse("contacts:sending_lists", args=["acme"])).content.decode()
    assert f'data-testid="count-{sending_list.pk}">1,234</td>' in html


def test_a_bulk_action_title_names_the_filter_in_words(editor_client, sending_list, contact):
    response = editor_client.post(
        reverse("audiences:contacts_label_action", args=["acme"]),
        {
            "action": "add",
            "scope": "all",
            "list_id": sending_list.pk,
            "filter_q": "999999",
            "filter_key": "tier",
            "filter_value": "",
        },
    )
    assert response.context["target"] == "all contacts on Main matching phone “999999”, key “tier”"
    assert "q “" not in response.content.decode()
