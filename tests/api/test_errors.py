"""The error format holds for everything under /api/, whatever goes wrong."""

import json

import pytest

from contacts import services


def test_an_unknown_url_under_api_is_a_json_404(api):
    for path in ("/api/v1/nope", "/api/v1/", "/api/v2/contacts", "/api/", "/api/v1/contacts/"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "error": f"There is no {path} in this API; its documentation is at /api/v1/docs.",
            "code": "not_found",
        }


def test_a_post_to_an_unknown_url_is_a_json_404_not_a_csrf_page(anonymous_api):
    response = anonymous_api.post("/api/v1/nope", {"a": 1})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_non_numeric_id_is_not_found(api):
    response = api.get("contacts/abc")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("pk", [0, 2**63, 2**70])
def test_ids_beyond_what_the_database_stores_are_not_found(api, pk):
    response = api.get(f"contacts/{pk}")
    assert response.status_code == 404
    assert response.json() == {"error": f"No contact with id {pk}.", "code": "not_found"}


def test_a_wrong_method_is_a_json_405_with_allow(api):
    response = api.delete("lists")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert response.json() == {
        "error": "DELETE is not allowed here; use GET, POST.",
        "code": "method_not_allowed",
    }


def test_malformed_json_is_400_invalid_json(api, sending_list):
    response = api.post("contacts", '{"phone_number": "+14155551234",')
    assert response.status_code == 400
    assert response.json() == {
        "error": "The request body is not valid JSON.",
        "code": "invalid_json",
    }


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "null"])
def test_a_body_that_is_not_an_object_is_400_invalid_request(api, sending_list, body):
    response = api.post("contacts", body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


def test_a_missing_field_is_named(api, sending_list):
    response = api.post("contacts", {"labels": {}})
    assert response.status_code == 400
    assert response.json() == {
        "error": "phone_number: Field required",
        "code": "invalid_request",
        "details": [
            {"field": "phone_number", "message": "Field required", "code": "invalid_request"}
        ],
    }


def test_an_unknown_field_is_refused(api, sending_list):
    response = api.post("contacts", {"phone_number": "+14155551234", "label": {"a": "b"}})
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"field": "label", "message": "Extra inputs are not permitted", "code": "invalid_request"}
    ]


def test_an_unknown_query_parameter_is_refused(api):
    response = api.get("contacts", {"perpage": "10"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["error"].startswith("Unknown query parameter 'perpage'; this operation takes ")
    assert body["details"] == [
        {"field": "perpage", "message": "Unknown query parameter.", "code": "invalid_request"}
    ]


def test_a_query_parameter_out_of_range_is_named(api):
    response = api.get("contacts", {"per_page": "1001"})
    assert response.status_code == 400
    assert response.json()["details"] == [
        {
            "field": "per_page",
            "message": "Input should be less than or equal to 1000",
            "code": "invalid_request",
        }
    ]


def test_a_body_over_the_limit_is_413(api, sending_list, settings):
    settings.API_MAX_BODY_BYTES = 1000
    labels = {f"k{n}": "x" * 200 for n in range(10)}
    response = api.post("contacts", {"phone_number": "+14155551234", "labels": labels})
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "payload_too_large"
    assert body["error"].endswith("the limit is 1000 bytes.")


def test_the_default_body_limit_is_one_megabyte(api, sending_list):
    body = json.dumps({"phone_number": "+14155551234", "labels": {"a": "x" * (1024 * 1024)}})
    response = api.post("contacts", body)
    assert response.status_code == 413
    assert response.json()["error"] == "The request body is 1.0 MB; the limit is 1.0 MB."


def test_text_with_control_characters_is_refused_not_stored(api):
    response = api.post("lists", {"name": "Main\x00", "phone_number": "+14155550100"})
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "name"


def test_a_lone_surrogate_is_refused(api, sending_list):
    body = '{"phone_number": "+14155551234", "labels": {"a": "\\ud800"}}'
    response = api.post("contacts", body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_label_value"


def test_an_unexpected_error_is_a_json_500_and_is_logged(api, sending_list, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "contact_create", broken)
    response = api.post("contacts", {"phone_number": "+14155551234"})
    assert response.status_code == 500
    assert response.json() == {
        "error": "Something went wrong on our side.",
        "code": "internal_error",
    }
    assert "disk on fire" not in response.content.decode()
    assert any("Unexpected error in POST /api/v1/contacts" in r.message for r in caplog.records)
