"""Heavy reads against a real streaming replica: they reach it, a writer reads its own writes
from the primary, a lagging or stopped replica leaves the reads to the primary."""

import logging
import os
import re
import time

import pytest
from django.conf import settings
from django.db import connections, router
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Contact, Label
from tests.api.conftest import ApiClient
from tests.factories import ContactFactory, label_contact, vip_audience
from tests.replicas.conftest import REPLICA, pg_replica, wait_for_receipt, wait_for_replay
from trackly import replicas
from trackly.api_keys import api_key_create

pytestmark = [
    pytest.mark.replica,
    pytest.mark.skipif(
        not settings.DATABASE_REPLICAS,
        reason="DATABASE_REPLICA_URL is not set: these tests need a streaming replica "
        "(bin/pg-replica start; see docs/replicas.md)",
    ),
    # Some tests pause the replica's replay or stop it: tests beside them would wait or fail.
    pytest.mark.skipif(
        "PYTEST_XDIST_WORKER" in os.environ,
        reason="the replica tests run in one process: pytest -p no:xdist -m replica",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", REPLICA]),
]


# What counting an audience's members reads.
AUDIENCE_AND_MEMBERS = {
    "audiences_audience",
    "audiences_audience_sending_lists",
    "contacts_sendinglist",
    "contacts_contact",
    "contacts_label",
}


def url(name: str, *args) -> str:
    return reverse(name, args=args)


def tables_read(queries: CaptureQueriesContext) -> set[str]:
    """The tables of contacts, labels and audiences that the captured statements name."""
    return {
        table
        for query in queries
        for table in re.findall(r'"((?:contacts|audiences)_[a-z_]+)"', query["sql"])
    }


@pytest.fixture
def audience(replica, sending_list):
    """VIPs: three subscribed contacts labelled vip=true, already on the replica."""
    audience = vip_audience(3, sending_list)
    wait_for_replay()
    return audience


def fetch(client, path: str, **kwargs):
    """GET `path`, with the statements run on the primary and on the replica."""
    with (
        CaptureQueriesContext(connections["default"]) as on_primary,
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
    ):
        response = client.get(path, **kwargs)
        content = b"".join(response.streaming_content) if response.streaming else None
    return response, content, on_primary, on_replica


def test_the_replica_alias_reaches_a_standby_and_default_the_primary(replica):
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (True,)
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (False,)


def test_audience_count_is_read_on_the_replica(admin_client, audience):
    response, _, on_primary, on_replica = fetch(
        admin_client, url("audiences:audience_count", "acme", audience.pk)
    )

    assert response.status_code == 200
    assert b'data-testid="member-count">3</span>' in response.content
    assert tables_read(on_replica) == AUDIENCE_AND_MEMBERS
    # The primary checked who asks; the audience and its members came from the replica.
    assert tables_read(on_primary) == set()


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("audiences:audience_detail", ("audience",), b"+12125550002"),
        ("audiences:audience_export", ("audience",), b"+12125550002"),
        ("audiences:labels", (), b"vip"),
        ("audiences:label_detail", ("vip",), b"true"),
        ("audiences:overview_lists", (), b"Main"),
    ],
)
def test_member_pages_exports_and_the_catalogue_are_read_on_the_replica(
    admin_client, audience, name, args, expected
):
    path = url(name, "acme", *(audience.pk if arg == "audience" else arg for arg in args))

    response, streamed, on_primary, on_replica = fetch(admin_client, path)

    assert response.status_code == 200
    assert expected in (streamed if response.streaming else response.content)
    assert tables_read(on_replica)
    assert tables_read(on_primary) == set()


def test_api_reads_are_read_on_the_replica(audience, admin_user):
    _, key = api_key_create(account=audience.account, name="Shop", created_by=admin_user)
    wait_for_replay()
    api = ApiClient(key)

    with (
        CaptureQueriesContext(connections["default"]) as on_primary,
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
    ):
        response = api.get(f"audiences/{audience.pk}")

    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert tables_read(on_replica) == AUDIENCE_AND_MEMBERS
    assert tables_read(on_primary) == set()
    # The key was looked up (and its use recorded) on the primary.
    assert any('"trackly_apikey"' in query["sql"] for query in on_primary)


@pytest.mark.urls("tests.replicas.urls")
def test_reads_after_a_write_in_the_same_request_go_to_the_primary(admin_client, audience):
    response = admin_client.get("/a/acme/read-write-read/")

    assert response.status_code == 200
    assert response.json() == {
        "before": {"alias": REPLICA, "standby": True, "contacts": 3},
        "after": {"alias": "default", "standby": False, "contacts": 4},
    }


@pytest.fixture
def replay_paused(replica):
    """The replica receives the primary's WAL but does not apply it: it lags, and by how much
    is up to the test."""
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    yield
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")
    wait_for_replay()


def test_a_writer_reads_its_own_writes_from_the_primary_at_once(
    audience, sending_list, admin_user, replay_paused
):
    _, writer_key = api_key_create(account=audience.account, name="Writer", created_by=admin_user)
    _, other_key = api_key_create(account=audience.account, name="Other", created_by=admin_user)
    writer, other = ApiClient(writer_key), ApiClient(other_key)
    newcomer = ContactFactory(sending_list=sending_list, phone_number="+14155550142")
    wait_for_receipt()
    # Warm up the keys' last-used times, so that the reads below are the only difference.
    assert writer.get(f"audiences/{audience.pk}").json()["count"] == 3
    assert other.get(f"audiences/{audience.pk}").json()["count"] == 3

    response = writer.put(f"contacts/{newcomer.pk}/labels", {"labels": {"vip": "yes"}})
    assert response.status_code == 200

    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        # The writer sees its change at once, from the primary...
        assert writer.get(f"audiences/{audience.pk}").json()["count"] == 4
    assert tables_read(on_replica) == set()
    # ...while another key still reads the replica, which has not replayed it yet.
    assert other.get(f"audiences/{audience.pk}").json()["count"] == 3


def test_a_logged_in_writer_reads_its_own_writes_from_the_primary(
    admin_client, viewer_client, audience, replay_paused
):
    member = Contact.objects.order_by("pk").first()
    count_url = url("audiences:audience_count", "acme", audience.pk)

    response = admin_client.post(
        url("contacts:contact_subscription", "acme", member.pk), {"subscribe": "0"}
    )
    assert response.status_code == 302

    response, _, _, on_replica = fetch(admin_client, count_url)
    assert b'data-testid="member-count">2</span>' in response.content
    assert tables_read(on_replica) == set()
    # The viewer did not write: the replica serves it, without the change so far.
    response, _, _, on_replica = fetch(viewer_client, count_url)
    assert b'data-testid="member-count">3</span>' in response.content
    assert "contacts_contact" in tables_read(on_replica)


def test_the_writer_reads_the_replica_again_after_the_window(admin_client, audience, settings):
    settings.REPLICA_READ_YOUR_WRITES_SECONDS = 1
    member = Contact.objects.order_by("pk").first()
    count_url = url("audiences:audience_count", "acme", audience.pk)
    admin_client.post(url("contacts:contact_subscription", "acme", member.pk), {"subscribe": "0"})
    time.sleep(1.5)

    response, _, _, on_replica = fetch(admin_client, count_url)

    assert b'data-testid="member-count">2</span>' in response.content
    assert "contacts_contact" in tables_read(on_replica)


def test_a_replica_further_behind_than_the_limit_leaves_reads_to_the_primary(
    admin_client, audience, replay_paused, settings, caplog
):
    Label.objects.filter(contact__in=Contact.objects.order_by("pk")[:1]).delete()
    wait_for_receipt()
    count_url = url("audiences:audience_count", "acme", audience.pk)
    # Within the limit, the paused replica serves the read, one change behind.
    response, *_ = fetch(admin_client, count_url)
    assert b'data-testid="member-count">3</span>' in response.content

    settings.REPLICA_MAX_LAG_SECONDS = 1
    replicas.forget_health()
    time.sleep(1.2)
    with caplog.at_level(logging.WARNING, logger="trackly.replicas"):
        response, _, _, on_replica = fetch(admin_client, count_url)

    assert b'data-testid="member-count">2</span>' in response.content
    assert tables_read(on_replica) == set()
    (record,) = caplog.records
    assert record.getMessage().startswith("Reads of replica replica_1 go to the primary: it is ")
    assert record.getMessage().endswith(" s behind the primary (REPLICA_MAX_LAG_SECONDS is 1).")


def test_a_stopped_replica_does_not_break_the_dashboard(
    admin_client, audience, sending_list, caplog
):
    count_url = url("audiences:audience_count", "acme", audience.pk)
    response, _, _, on_replica = fetch(admin_client, count_url)
    assert b'data-testid="member-count">3</span>' in response.content
    assert "contacts_contact" in tables_read(on_replica)
    newcomer = ContactFactory(sending_list=sending_list, phone_number="+14155550142")
    label_contact(newcomer, {"vip": "1"})

    pg_replica("stop")
    try:
        with caplog.at_level(logging.WARNING, logger="trackly.replicas"):
            # The replica was healthy at the last check: the view fails on it and runs again
            # on the primary; the next request goes to the primary at once.
            first = admin_client.get(count_url)
            second = admin_client.get(url("audiences:audience_detail", "acme", audience.pk))
    finally:
        pg_replica("start")

    assert first.status_code == 200
    assert b'data-testid="member-count">4</span>' in first.content
    assert second.status_code == 200
    assert second.content.count(b"+1212555") == 3
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "Reads of replica replica_1 go to the primary: it failed during a request ("
    )


def test_an_unreachable_replica_leaves_reads_to_the_primary(admin_client, audience, caplog):
    connection = connections[REPLICA]
    reachable = connection.settings_dict
    connection.close()
    # Nothing listens on port 1.
    connection.settings_dict = {**reachable, "PORT": "1"}
    try:
        with caplog.at_level(logging.WARNING, logger="trackly.replicas"):
            response = admin_client.get(url("audiences:audience_count", "acme", audience.pk))
            again = admin_client.get(url("audiences:audience_count", "acme", audience.pk))
    finally:
        connection.close()
        connection.settings_dict = reachable

    assert response.status_code == again.status_code == 200
    assert b'data-testid="member-count">3</span>' in again.content
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "Reads of replica replica_1 go to the primary: it is unreachable ("
    )


def test_reads_outside_a_request_go_to_the_primary(replica):
    """As a task worker's: no request, so `replica_reads` changes nothing."""
    with replicas.replica_reads():
        assert router.db_for_read(Contact) == "default"
    assert router.db_for_write(Contact) == "default"
