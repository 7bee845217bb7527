"""Personas and their data: an account with an admin, an editor and a viewer, and an outsider
who belongs to another account with data of its own."""

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from hypothesis import settings as hypothesis_settings

from tests.factories import (
    AccountFactory,
    ContactFactory,
    MembershipFactory,
    SendingListFactory,
    UserFactory,
    label_contact,
)
from trackly.models import Role

PASSWORD = "correct horse battery"

# Property tests check results, not timings: a per-example deadline only fails them when the
# machine is busy (two test runs side by side on two cores took one example past 200 ms).
hypothesis_settings.register_profile("trackly", deadline=None)
hypothesis_settings.load_profile("trackly")


@pytest.fixture(scope="session", autouse=True)
def _rate_limit_counters_file():
    """The SQLite file of the rate-limit counters goes with the test process, as its test
    database does."""
    yield
    cache = settings.CACHES["default"]
    if cache["BACKEND"] == "trackly.caches.SQLiteCache":
        for suffix in ("", "-wal", "-shm"):
            Path(cache["LOCATION"] + suffix).unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _replica_reads_only_in_replica_tests(request):
    """With DATABASE_REPLICA_URL set, only the replica tests read from a replica: in the others
    the replica aliases mirror the primary's test database, which they may not query."""
    if not settings.DATABASE_REPLICAS or request.node.get_closest_marker("replica"):
        yield
        return
    with override_settings(DATABASE_REPLICAS=[]):
        yield


@pytest.fixture
def account(db):
    return AccountFactory(name="Acme Shoes", slug="acme")


@pytest.fixture
def other_account(db):
    return AccountFactory(name="Globex", slug="globex")


def _member(account, role, email):
    return MembershipFactory(account=account, role=role, user=UserFactory(email=email)).user


@pytest.fixture
def admin_user(account):
    return _member(account, Role.ADMIN, "admin@acme.test")


@pytest.fixture
def editor_user(account):
    return _member(account, Role.EDITOR, "editor@acme.test")


@pytest.fixture
def viewer_user(account):
    return _member(account, Role.VIEWER, "viewer@acme.test")


@pytest.fixture
def outsider_user(other_account):
    return _member(other_account, Role.ADMIN, "outsider@globex.test")


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user):
    return _client_for(admin_user)


@pytest.fixture
def editor_client(editor_user):
    return _client_for(editor_user)


@pytest.fixture
def viewer_client(viewer_user):
    return _client_for(viewer_user)


@pytest.fixture
def outsider_client(outsider_user):
    return _client_for(outsider_user)


@pytest.fixture
def superuser(db):
    """Staff with every permission, for the Django admin (which is not scoped to an account)."""
    return UserFactory(email="root@trackly.test", is_staff=True, is_superuser=True)


@pytest.fixture
def superuser_client(superuser):
    return _client_for(superuser)


@pytest.fixture
def sending_list(account):
    return SendingListFactory(account=account, name="Main", phone_number="+14155550100")


@pytest.fixture
def contact(sending_list):
    contact = ContactFactory(sending_list=sending_list, phone_number="+14155551234")
    return label_contact(contact, {"source": "facebook", "tier": "gold"})


@pytest.fixture
def other_contact(other_account):
    other_list = SendingListFactory(account=other_account, name="Theirs")
    contact = ContactFactory(sending_list=other_list, phone_number="+14155559999")
    return label_contact(contact, {"source": "google"})
