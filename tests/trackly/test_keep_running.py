"""`bin/keep-running`, which keeps `make run`'s task worker alive."""

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.workers import wait_for

SCRIPT = Path(__file__).resolve().parents[2] / "bin" / "keep-running"


def keep_running(*command: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(SCRIPT), *command],
        env={**os.environ, "KEEP_RUNNING_PAUSE": "0.1"},
        stderr=subprocess.PIPE,
        text=True,
    )


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_command_that_stops_is_started_again(tmp_path):
    runs = tmp_path / "runs"
    keeper = keep_running("sh", "-c", f"echo run >> {runs}; exit 3")
    try:
        wait_for(lambda: runs.exists() and runs.read_text().count("run") >= 3, timeout=10)
    finally:
        keeper.terminate()
        _, stderr = keeper.communicate(timeout=10)
    assert "keep-running: sh stopped (exit 3); starting it again in 0.1 s." in stderr


def test_stopping_it_stops_the_command_and_waits_for_it(tmp_path):
    pid_file = tmp_path / "pid"
    keeper = keep_running("sh", "-c", f"echo $$ > {pid_file}; exec sleep 60")
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=10)
    command_pid = int(pid_file.read_text())
    started = time.monotonic()
    keeper.send_signal(signal.SIGINT)
    assert keeper.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert not is_alive(command_pid)


def test_make_run_keeps_its_task_worker_alive_with_it():
    # `make -n` prints the recipe without running it.
    recipe = subprocess.run(
        ["make", "-n", "run"],
        cwd=SCRIPT.parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    workers = [line for line in recipe.splitlines() if "manage.py db_worker" in line]
    assert len(workers) == 1
    assert " bin/keep-running .venv/bin/python manage.py db_worker " in workers[0]
