"""Real task worker processes for tests, on the test database and the database queue."""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def start_worker(*, log=subprocess.DEVNULL, **env) -> subprocess.Popen:
    """A worker process on the test database, with the database queue; what it logs goes to
    `log` (a file, or nowhere)."""
    db = connection.settings_dict
    worker_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env}
    worker_env["TASKS_BACKEND"] = DATABASE_QUEUE["default"]["BACKEND"]
    if connection.vendor == "postgresql":
        worker_env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        )
    else:
        worker_env.pop("DATABASE_URL", None)
        worker_env["SQLITE_PATH"] = db["NAME"]
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay"],
        cwd=ROOT,
        env=worker_env,
        stdout=log,
        stderr=subprocess.STDOUT if log is not subprocess.DEVNULL else subprocess.PIPE,
    )


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)
