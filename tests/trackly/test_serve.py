"""Serving production: gunicorn's configuration, `make serve`'s settings check, and a real
gunicorn with DEBUG off answering pages and static files and reloading on HUP."""

import os
import re
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path

import pytest
from django.conf import settings

from trackly.production import production_problems

ROOT = Path(settings.BASE_DIR)
CONFIG = ROOT / "gunicorn.conf.py"
NOT_CONFIGURED = (
    "Trackly is not configured for production: set SECRET_KEY in the environment "
    "(README: Production)."
)


def base_env(**environ: str) -> dict[str, str]:
    """The environment of a process started from a clean shell: nothing of the test run."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"), **environ}


def load_config(monkeypatch, **environ: str) -> dict:
    for name in ("WEB_CONCURRENCY", "BIND", "GUNICORN_PID_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_workers_are_two_per_cpu_plus_one_unless_web_concurrency_says(monkeypatch):
    config = load_config(monkeypatch)
    workers_for = config["workers_for"]
    assert workers_for({}, 1) == 3
    assert workers_for({}, 2) == 5
    assert workers_for({}, 8) == 17
    assert workers_for({"WEB_CONCURRENCY": ""}, 2) == 5
    assert workers_for({"WEB_CONCURRENCY": "7"}, 2) == 7
    assert workers_for({"WEB_CONCURRENCY": " 1 "}, 64) == 1
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(SystemExit) as raised:
            workers_for({"WEB_CONCURRENCY": bad}, 2)
        assert str(raised.value) == (
            f"WEB_CONCURRENCY must be a whole number of at least 1, not {bad!r}."
        )


def test_the_config_file_reads_the_environment(monkeypatch):
    config = load_config(
        monkeypatch, WEB_CONCURRENCY="3", BIND="0.0.0.0:8100, unix:/run/trackly.sock"
    )
    assert config["workers"] == 3
    assert config["bind"] == ["0.0.0.0:8100", "unix:/run/trackly.sock"]
    assert config["wsgi_app"] == "trackly.wsgi:application"
    assert config["pidfile"] is None
    assert (config["timeout"], config["graceful_timeout"], config["accesslog"]) == (120, 60, "-")
    # Reloading on HUP imports the code afresh only when the master has not preloaded it.
    assert "preload_app" not in config

    config = load_config(monkeypatch)
    assert config["bind"] == ["127.0.0.1:8000"]
    assert config["workers"] == 2 * len(os.sched_getaffinity(0)) + 1


def gunicorn_print_config(**environ: str) -> dict[str, str]:
    """The settings gunicorn itself resolves from the file, run on the first CPU alone."""
    first_cpu = min(os.sched_getaffinity(0))
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), "--print-config"],
        cwd=ROOT,
        env=base_env(**environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {first_cpu}),
    )
    resolved = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition("=")
        resolved[name.strip()] = value.strip()
    return resolved


def test_gunicorn_loads_the_config_with_workers_from_the_cpus_it_may_use():
    assert gunicorn_print_config(SECRET_KEY="k" * 50)["workers"] == "3"
    resolved = gunicorn_print_config(
        SECRET_KEY="k" * 50, WEB_CONCURRENCY="4", BIND="127.0.0.1:8123"
    )
    assert resolved["workers"] == "4"
    assert resolved["bind"] == "['127.0.0.1:8123']"
    assert resolved["control_socket_disable"] == "True"


def test_production_problems_name_what_is_missing():
    complete = {"SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "trackly.example.com"}
    assert production_problems(complete) == []
    assert production_problems({**complete, "SECRET_KEY": " "}) == [
        "set SECRET_KEY in the environment"
    ]
    assert production_problems({}) == ["set SECRET_KEY and ALLOWED_HOSTS in the environment"]
    assert production_problems({**complete, "DEBUG": "True"}) == ["turn DEBUG off"]
    assert production_problems({**complete, "DEBUG": "false"}) == []


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_serve_without_secret_key_stops_with_one_line_before_doing_anything():
    # -o: the venv is taken as installed (this interpreter's), never made again by the test.
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "serve", f"PY={sys.executable}"],
        cwd=ROOT,
        env=base_env(ALLOWED_HOSTS="trackly.example.com"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == NOT_CONFIGURED
    assert len(lines) == 2
    assert re.fullmatch(r"make: \*\*\* \[Makefile:\d+: serve\] Error 1", lines[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"Timed out after {seconds} s waiting for {what}.")


def booted_workers(log: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log.read_text())]


def test_gunicorn_serves_pages_and_static_files_with_debug_off_and_reloads_on_hup(tmp_path):
    env = base_env(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        SQLITE_CACHE_PATH=str(tmp_path / "cache.sqlite3"),
        STATIC_ROOT=str(tmp_path / "static"),
        WEB_CONCURRENCY="2",
        BIND=f"127.0.0.1:{free_port()}",
        GUNICORN_PID_FILE=str(tmp_path / "gunicorn.pid"),
    )
    port = int(env["BIND"].rsplit(":", 1)[1])
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(CONFIG)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: len(booted_workers(log)) == 2, 60, "2 workers")

        def answers():
            try:
                return get(port, "/login/")
            except OSError:
                return None

        status, headers, body = wait_for(answers, 60, "the login page")
        assert status == 200
        assert b'name="password"' in body

        # Not logged in: the dashboard sends to the login page.
        status, headers, _ = get(port, "/")
        assert (status, headers["Location"]) == (302, "/login/?next=/")

        # The page names the fingerprinted file, served for a year by WhiteNoise.
        hashed = re.search(rb'href="/static/(css/trackly\.[0-9a-f]{12}\.css)"', body)
        assert hashed is not None
        status, headers, css = get(port, f"/static/{hashed[1].decode()}")
        assert status == 200
        assert headers["Content-Type"] == 'text/css; charset="utf-8"'
        assert headers["Cache-Control"] == "max-age=315360000, public, immutable"
        assert css == (ROOT / "static/css/trackly.css").read_bytes()
        assert get(port, "/static/favicon.svg")[0] == 200
        assert get(port, "/static/no-such-file.css")[0] == 404

        # The access log has a line per request, with its status and time.
        wait_for(lambda: '"GET /login/ HTTP/1.1" 200' in log.read_text(), 10, "the access log")

        # HUP: new workers take over, the old ones stop, the server keeps answering.
        master = int((tmp_path / "gunicorn.pid").read_text())
        assert master == server.pid
        first = booted_workers(log)
        os.kill(master, signal.SIGHUP)
        wait_for(lambda: len(booted_workers(log)) == 4, 60, "2 new workers after HUP")
        wait_for(lambda: log.read_text().count("Worker exiting") >= 2, 60, "the old workers")
        for pid in first:
            wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists(), 30, f"worker {pid}")
        assert get(port, "/login/")[0] == 200
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert server.returncode == 0
