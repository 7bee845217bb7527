"""Real task worker and web server processes for tests, on the test database and the database
queue."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def _process_env(**env) -> dict[str, str]:
    """The environment of a process on the test database, with the database queue."""
    db = connection.settings_dict
    process_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env}
    process_env["TASKS_BACKEND"] = DATABASE_QUEUE["default"]["BACKEND"]
    if connection.vendor == "postgresql":
        process_env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        )
    else:
        process_env.pop("DATABASE_URL", None)
        process_env["SQLITE_PATH"] = db["NAME"]
    if settings.CACHES["default"]["BACKEND"] == "trackly.caches.SQLiteCache":
        process_env["SQLITE_CACHE_PATH"] = settings.CACHES["default"]["LOCATION"]
    return process_env


def start_worker(*, log=subprocess.DEVNULL, **env) -> subprocess.Popen:
    """A worker process on the test database, with the database queue; what it logs goes to
    `log` (a file, or nowhere)."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay"],
        cwd=ROOT,
        env=_process_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT if log is not subprocess.DEVNULL else subprocess.PIPE,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_web_server(
    port: int, log: IO, *, workers: int = 2, threads: int = 4, **env
) -> subprocess.Popen:
    """gunicorn serving the app on 127.0.0.1:`port` from the test database, as in production:
    several processes with several threads each. Its log goes to `log`."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "trackly.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            f"--threads={threads}",
            "--worker-class=gthread",
            "--timeout=120",
            "--graceful-timeout=5",
        ],
        cwd=ROOT,
        env=_process_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answers() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"The web server exited with {server.returncode}.")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/lists", timeout=5)
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    wait_for(answers, timeout=30)
    return server


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)
