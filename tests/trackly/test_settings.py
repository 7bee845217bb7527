"""trackly/settings.py as production reads it from the environment."""

import json
import os
import subprocess
import sys

from django.conf import settings

PRINT_DATABASE = (
    "import json; from django.conf import settings; "
    "print(json.dumps(settings.DATABASES['default'], default=str))"
)


def database_settings(**environ: str) -> dict:
    """The default database that trackly.settings builds from `environ` alone."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "trackly.settings",
        "DEBUG": "true",
        **environ,
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {PRINT_DATABASE}"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_a_sqlite_url_gets_the_same_connection_settings_as_sqlite_path(tmp_path):
    path = str(tmp_path / "trackly.sqlite3")
    from_path = database_settings(SQLITE_PATH=path)
    from_url = database_settings(DATABASE_URL=f"sqlite:///{path}")
    assert from_url == from_path
    assert from_url["ENGINE"] == "django.db.backends.sqlite3"
    assert from_url["NAME"] == path
    assert from_url["OPTIONS"] == {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }


def test_a_postgres_url_keeps_its_connection_settings():
    database = database_settings(DATABASE_URL="postgres://ana:secret@db.example:5433/trackly")
    assert {key: database[key] for key in ("ENGINE", "NAME", "USER", "HOST", "PORT")} == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "trackly",
        "USER": "ana",
        "HOST": "db.example",
        "PORT": 5433,
    }
    assert (database["CONN_MAX_AGE"], database["CONN_HEALTH_CHECKS"]) == (60, True)
    assert "transaction_mode" not in database.get("OPTIONS", {})
