"""DATABASE_REPLICA_URL and the replica settings, as trackly/settings.py reads them."""

import json
import os
import subprocess
import sys

from django.conf import settings

PRINT_REPLICAS = (
    "import json; from django.conf import settings as s; print(json.dumps({"
    "'aliases': s.DATABASE_REPLICAS, 'routers': s.DATABASE_ROUTERS, "
    "'databases': {alias: s.DATABASES[alias] for alias in s.DATABASE_REPLICAS}, "
    "'read_your_writes': s.REPLICA_READ_YOUR_WRITES_SECONDS}, default=str))"
)
PRIMARY = "postgres://ana:secret@db.example:5432/trackly?sslmode=require"


def read_settings(**environ: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "trackly.settings",
        "DEBUG": "true",
        **environ,
    }
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {PRINT_REPLICAS}"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def replica_settings(**environ: str) -> dict:
    result = read_settings(**environ)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refusal(**environ: str) -> str:
    """The last line of what start-up says when it refuses `environ`."""
    result = read_settings(**environ)
    assert result.returncode != 0
    return result.stderr.strip().splitlines()[-1]


def test_without_replicas_there_is_no_router():
    assert replica_settings(DATABASE_URL=PRIMARY) == {
        "aliases": [],
        "routers": [],
        "databases": {},
        "read_your_writes": 10,
    }


def test_each_replica_url_becomes_an_alias_with_the_primarys_connection_settings():
    found = replica_settings(
        DATABASE_URL=PRIMARY,
        DATABASE_REPLICA_URL="postgres://ana@replica-a:5433/trackly, "
        "postgres://ana@replica-b/trackly?connect_timeout=9",
    )

    assert found["aliases"] == ["replica_1", "replica_2"]
    assert found["routers"] == ["trackly.replicas.ReplicaRouter"]
    first, second = found["databases"]["replica_1"], found["databases"]["replica_2"]
    assert {key: first[key] for key in ("ENGINE", "NAME", "HOST", "PORT")} == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "trackly",
        "HOST": "replica-a",
        "PORT": 5433,
    }
    assert (first["CONN_MAX_AGE"], first["CONN_HEALTH_CHECKS"]) == (60, True)
    assert first["OPTIONS"] == {"sslmode": "require", "connect_timeout": 2}
    assert second["HOST"] == "replica-b"
    assert second["OPTIONS"] == {"sslmode": "require", "connect_timeout": 9}
    assert first["TEST"]["MIRROR"] == second["TEST"]["MIRROR"] == "default"


def test_replica_urls_may_be_separated_by_spaces():
    found = replica_settings(
        DATABASE_URL=PRIMARY,
        DATABASE_REPLICA_URL="postgres://ana@replica-a/trackly   postgres://ana@replica-b/trackly",
    )
    assert found["aliases"] == ["replica_1", "replica_2"]


def test_replicas_need_postgresql_as_the_primary(tmp_path):
    assert refusal(
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        DATABASE_REPLICA_URL="postgres://ana@replica-a/trackly",
    ) == (
        "django.core.exceptions.ImproperlyConfigured: "
        "DATABASE_REPLICA_URL needs DATABASE_URL=postgres://..."
    )


def test_a_replica_url_must_be_postgresql():
    assert refusal(DATABASE_URL=PRIMARY, DATABASE_REPLICA_URL="mysql://replica/trackly") == (
        "django.core.exceptions.ImproperlyConfigured: "
        "DATABASE_REPLICA_URL must hold postgres:// URLs, not 'mysql://replica/trackly'."
    )


def test_the_read_your_writes_window_must_cover_the_lag_and_the_check():
    assert refusal(
        DATABASE_URL=PRIMARY,
        REPLICA_MAX_LAG_SECONDS="30",
        REPLICA_CHECK_SECONDS="5",
        REPLICA_READ_YOUR_WRITES_SECONDS="20",
    ) == (
        "django.core.exceptions.ImproperlyConfigured: REPLICA_READ_YOUR_WRITES_SECONDS must be "
        "at least REPLICA_MAX_LAG_SECONDS + REPLICA_CHECK_SECONDS, or a change can be missing "
        "from the next page."
    )
    assert (
        replica_settings(DATABASE_URL=PRIMARY, REPLICA_MAX_LAG_SECONDS="30")["read_your_writes"]
        == 35
    )
