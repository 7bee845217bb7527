"""GET /labels/{key}/values: search with `q`, and paging past the first page by cursor."""

import re

import pytest

from tests.factories import ContactFactory, label_contact

NEXT_LINK = re.compile(r'<http://testserver(/api/v1/labels/city/values\?[^>]+)>; rel="next"')


@pytest.fixture
def cities(sending_list, other_contact):
    for city in ["Paris", "Paris", "Parma", "Sparta", "parish", "Lyon"]:
        label_contact(ContactFactory(sending_list=sending_list), {"city": city})
    label_contact(other_contact, {"city": "Paradise"})


def _walk(api, params):
    """Every value of every page, following the `Link` headers."""
    seen, pages = [], 0
    response = api.get("labels/city/values", params)
    while True:
        assert response.status_code == 200
        seen += [item["value"] for item in response.json()]
        pages += 1
        link = response.headers.get("Link")
        if link is None:
            return seen, pages
        response = api.get(NEXT_LINK.fullmatch(link).group(1))


def test_q_finds_values_starting_with_it_then_containing_it(api, cities):
    response = api.get("labels/city/values", {"q": "Par"})
    assert response.status_code == 200
    assert response.json() == [
        {"value": "Paris", "contacts": 2},
        {"value": "Parma", "contacts": 1},
        {"value": "Sparta", "contacts": 1},
        {"value": "parish", "contacts": 1},
    ]
    assert "Link" not in response.headers
    assert api.get("labels/city/values", {"q": "nowhere"}).json() == []


def test_the_link_header_pages_past_the_first_page(api, cities):
    first = api.get("labels/city/values", {"limit": 2})
    assert [item["value"] for item in first.json()] == ["Paris", "Lyon"]
    path = NEXT_LINK.fullmatch(first.headers["Link"]).group(1)
    assert "limit=2" in path
    assert [item["value"] for item in api.get(path).json()] == ["Parma", "Sparta"]
    assert _walk(api, {"limit": 2}) == (["Paris", "Lyon", "Parma", "Sparta", "parish"], 3)
    assert _walk(api, {"limit": 1, "q": "Par"}) == (["Paris", "Parma", "Sparta", "parish"], 4)
    assert _walk(api, {"limit": 1000}) == (["Paris", "Lyon", "Parma", "Sparta", "parish"], 1)


@pytest.mark.parametrize("cursor", ["garbage", "s:garbage", "c:", "n"])
def test_a_cursor_not_handed_out_is_invalid_cursor(api, cities, cursor):
    response = api.get("labels/city/values", {"q": "Par", "cursor": cursor})
    if cursor == "c:":
        # The start of the values that contain `q` without starting with it.
        assert [item["value"] for item in response.json()] == ["Sparta", "parish"]
        return
    assert response.status_code == 400
    assert response.json() == {
        "error": "This cursor is not valid; start again without one.",
        "code": "invalid_cursor",
        "details": [{"field": "cursor", "message": "Not a cursor of this search."}],
    }


def test_a_too_long_search_is_a_validation_error(api, cities):
    response = api.get("labels/city/values", {"q": "x" * 257})
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "q"


def test_the_search_sees_only_the_accounts_values(outsider_api, cities):
    assert outsider_api.get("labels/city/values", {"q": "Par"}).json() == [
        {"value": "Paradise", "contacts": 1}
    ]


def test_the_search_and_the_link_header_are_documented(api):
    schema = api.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/labels/{key}/values"]["get"]
    names = [parameter["name"] for parameter in operation["parameters"]]
    assert names == ["key", "limit", "q", "cursor"]
    assert operation["responses"]["200"]["headers"]["Link"]["schema"] == {"type": "string"}
    assert "invalid_cursor" in operation["responses"]["400"]["description"]
