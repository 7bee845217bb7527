"""Parallel API requests, each on its own database connection (run on SQLite and PostgreSQL)."""

import threading

import pytest
from django.db import connection

from contacts.models import Contact, Label
from tests.api.conftest import ApiClient
from tests.factories import label_contact

PARALLEL = 20


def _in_parallel(count: int, request) -> list:
    """Run `request(i)` in `count` threads released at once; return their responses."""
    barrier = threading.Barrier(count)
    responses: list = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait()
            responses[i] = request(i)
        except Exception as error:  # reported by the caller's assertions
            responses[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


@pytest.mark.django_db(transaction=True)
def test_parallel_upserts_of_one_number_make_one_contact_with_every_label(api_key, sending_list):
    key = api_key[1]

    def upsert(i: int):
        labels = {f"k{i}": "v", "shared": f"v{i}"}
        return ApiClient(key).post("contacts", {"phone_number": "+14155551234", "labels": labels})

    responses = _in_parallel(PARALLEL, upsert)
    statuses = sorted(getattr(r, "status_code", r) for r in responses)
    assert statuses == [200] * (PARALLEL - 1) + [201]
    contact = Contact.objects.get()
    labels = dict(Label.objects.filter(contact=contact).values_list("key", "value"))
    assert {key for key in labels if key != "shared"} == {f"k{i}" for i in range(PARALLEL)}
    # One of the writes of `shared` won; the answer that came last saw its value.
    assert labels["shared"] in {f"v{i}" for i in range(PARALLEL)}
    assert {r.json()["id"] for r in responses} == {contact.pk}


@pytest.mark.django_db(transaction=True)
def test_parallel_creates_of_different_numbers_all_succeed(api_key, sending_list):
    key = api_key[1]

    def create(i: int):
        return ApiClient(key).post("contacts", {"phone_number": f"+1415555{1000 + i}"})

    responses = _in_parallel(PARALLEL, create)
    assert [getattr(r, "status_code", r) for r in responses] == [201] * PARALLEL
    assert Contact.objects.count() == PARALLEL


@pytest.mark.django_db(transaction=True)
def test_the_50_label_limit_holds_under_parallel_patches(api_key, contact):
    label_contact(contact, {f"old{n}": "v" for n in range(43)})  # 45 with the fixture's two
    key = api_key[1]

    def patch(i: int):
        return ApiClient(key).patch(f"contacts/{contact.pk}", {"labels": {f"new{i}": "v"}})

    responses = _in_parallel(10, patch)
    statuses = sorted(getattr(r, "status_code", r) for r in responses)
    assert statuses == [200] * 5 + [400] * 5
    assert {r.json()["code"] for r in responses if r.status_code == 400} == {"too_many_labels"}
    assert Label.objects.filter(contact=contact).count() == 50
