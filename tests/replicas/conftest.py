"""A real streaming replica under the alias replica_1 (DATABASE_REPLICA_URL; `bin/pg-replica
start` makes one on this machine).

The test run creates its test database on the primary only: the replica receives it, as
everything else on the primary, through streaming replication. Django's test set-up makes
the replica alias a mirror of the primary's test database; `replica_database` points it at
that database on the replica server instead, once the copy is there."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError, connections

from trackly import replicas

REPLICA = "replica_1"
PG_REPLICA = Path(__file__).resolve().parents[2] / "bin" / "pg-replica"


@pytest.fixture(scope="session")
def replica_database(django_db_setup, django_db_blocker):
    connection = connections[REPLICA]
    mirror = connection.settings_dict
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict = {
            **settings.DATABASES[REPLICA],
            "NAME": connections["default"].settings_dict["NAME"],
        }
        deadline = time.monotonic() + 60
        while True:
            try:
                connection.ensure_connection()
                break
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield
        connection.close()
        connection.settings_dict = mirror


@pytest.fixture
def replica(replica_database, transactional_db, settings):
    """The replica, caught up with the primary, its health checked afresh, with limits that
    the tests change where they test them."""
    settings.REPLICA_MAX_LAG_SECONDS = 3600
    settings.REPLICA_CHECK_SECONDS = 60
    settings.REPLICA_READ_YOUR_WRITES_SECONDS = 10
    replicas.forget_health()
    wait_for_replay()
    yield connections[REPLICA]
    replicas.forget_health()


def primary_lsn() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        return cursor.fetchone()[0]


def wait_for_replay(timeout: float = 30) -> None:
    """Wait until the replica has replayed everything the primary committed so far."""
    _wait_on_replica("pg_last_wal_replay_lsn() >= %s::pg_lsn", primary_lsn(), timeout)


def wait_for_receipt(timeout: float = 30) -> None:
    """Wait until the replica has received (not necessarily replayed) the primary's WAL."""
    _wait_on_replica("pg_last_wal_receive_lsn() >= %s::pg_lsn", primary_lsn(), timeout)


def _wait_on_replica(condition: str, lsn: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with connections[REPLICA].cursor() as cursor:
        while True:
            cursor.execute(f"SELECT {condition}", [lsn])
            if cursor.fetchone()[0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"The replica did not reach {lsn} in {timeout} s.")
            time.sleep(0.05)


def pg_replica(command: str) -> None:
    """Run `bin/pg-replica COMMAND` for the replica of DATABASE_REPLICA_URL."""
    port = str(settings.DATABASES[REPLICA]["PORT"])
    subprocess.run([PG_REPLICA, command], check=True, env={**os.environ, "PG_REPLICA_PORT": port})
