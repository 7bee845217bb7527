import pytest

from tests.factories import ContactFactory


@pytest.fixture
def contacts(sending_list):
    return [ContactFactory(sending_list=sending_list) for _ in range(7)]


def test_pages_by_number_count_the_total(api, contacts):
    response = api.get("contacts", {"per_page": 3, "page": 2})
    body = response.json()
    assert [c["id"] for c in body["data"]] == [c.pk for c in contacts[3:6]]
    assert body["pagination"] == {"page": 2, "per_page": 3, "total": 7, "total_pages": 3}
    assert body["next_cursor"] is not None


def test_the_last_page_has_no_next_cursor_and_beyond_it_is_empty(api, contacts):
    last = api.get("contacts", {"per_page": 3, "page": 3}).json()
    assert [c["id"] for c in last["data"]] == [contacts[6].pk]
    assert last["next_cursor"] is None
    beyond = api.get("contacts", {"per_page": 3, "page": 9}).json()
    assert beyond["data"] == []
    assert beyond["pagination"]["total"] == 7


def test_a_cursor_walks_every_contact_once_without_counting(api, contacts):
    seen = []
    cursor = ""
    while cursor is not None:
        body = api.get("contacts", {"per_page": 2, "cursor": cursor}).json()
        assert body["pagination"] == {
            "page": None,
            "per_page": 2,
            "total": None,
            "total_pages": None,
        }
        seen += [c["id"] for c in body["data"]]
        cursor = body["next_cursor"]
    assert seen == [c.pk for c in contacts]


def test_a_cursor_does_not_count(api, contacts, django_assert_max_num_queries):
    api.get("labels")  # the key's first use is recorded
    with django_assert_max_num_queries(3):  # the key, the page, its labels
        api.get("contacts", {"per_page": 2, "cursor": ""})


def test_a_cursor_continues_from_a_numbered_page(api, contacts):
    first = api.get("contacts", {"per_page": 4}).json()
    rest = api.get("contacts", {"per_page": 4, "cursor": first["next_cursor"]}).json()
    assert [c["id"] for c in rest["data"]] == [c.pk for c in contacts[4:]]


@pytest.mark.parametrize(
    "cursor", ["garbage", "eyJhZnRlciI6ICJ4In0", "e30", "!!!", "eyJhZnRlciI6IC0xfQ"]
)
def test_a_cursor_not_handed_out_is_invalid_cursor(api, contacts, cursor):
    response = api.get("contacts", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {
        "error": "This cursor is not valid; start again without one.",
        "code": "invalid_cursor",
        "details": [{"field": "cursor", "message": "Not a cursor of this API."}],
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [({"per_page": 0}, "per_page"), ({"per_page": 1001}, "per_page"), ({"page": 0}, "page")],
)
def test_paging_out_of_range_is_invalid_request(api, params, field):
    response = api.get("contacts", params)
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == field


def test_up_to_1000_per_page(api, contacts):
    body = api.get("contacts", {"per_page": 1000}).json()
    assert body["pagination"]["per_page"] == 1000
    assert len(body["data"]) == 7
