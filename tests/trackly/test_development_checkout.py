"""The README's commands in a development checkout: `make run` writes `.env`, which
`python manage.py ...` in another shell reads; missing configuration is one clear line."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from trackly.envfile import parse_env_file

MANAGE = Path(settings.BASE_DIR) / "manage.py"
NOT_CONFIGURED = (
    "Trackly is not configured: SECRET_KEY must be set when DEBUG is off (in the environment, "
    "or in .env beside manage.py: `make run` writes one with DEBUG=true for development).\n"
)


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A copy of manage.py beside the real packages: a checkout with no .env yet."""
    shutil.copy(MANAGE, tmp_path / "manage.py")
    return tmp_path


def manage(checkout: Path, *args: str, **environ: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(settings.BASE_DIR),
        "SQLITE_PATH": str(checkout / "db.sqlite3"),
        "SQLITE_CACHE_PATH": str(checkout / "cache.sqlite3"),
        **environ,
    }
    return subprocess.run(
        [sys.executable, str(checkout / "manage.py"), *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_configuration_manage_py_says_so_in_one_line(checkout):
    result = manage(checkout, "migrate", "--noinput")
    assert result.returncode == 1
    assert result.stderr == NOT_CONFIGURED
    assert result.stdout == ""


def test_a_bad_value_is_one_line_naming_the_variable(checkout):
    result = manage(checkout, "check", DEBUG="maybe")
    assert (result.returncode, result.stderr) == (
        1,
        "Trackly is not configured: DEBUG must be true or false, not 'maybe'.\n",
    )


def test_the_readme_commands_work_after_make_run_wrote_env(checkout):
    make = subprocess.run(
        ["make", "--no-print-directory", "-f", str(Path(settings.BASE_DIR) / "Makefile"), ".env"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert make.stdout == (
        "Wrote .env (DEBUG=true): python manage.py ... now runs with development settings.\n"
    )
    assert parse_env_file((checkout / ".env").read_text()) == {"DEBUG": "true"}
    assert manage(checkout, "migrate", "--noinput").returncode == 0
    created = manage(checkout, "create_account", "acme", "--name", "Acme Shoes")
    assert (created.returncode, created.stderr) == (0, "")
    user = manage(
        checkout,
        "create_user",
        "ana@acme.test",
        "--account",
        "acme",
        "--role",
        "admin",
        "--password",
        "a long enough passphrase",
    )
    assert (user.returncode, user.stderr) == (0, "")
    # The environment wins over the file.
    assert manage(checkout, "check", DEBUG="false").stderr == NOT_CONFIGURED


def test_make_run_prints_the_port_it_serves_on():
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "PORT=8101"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert 'echo "Trackly will serve http://127.0.0.1:8101/' in result.stdout
    assert "manage.py seed_demo --url http://127.0.0.1:8101/" in result.stdout
    assert "manage.py runserver 127.0.0.1:8101" in result.stdout


def test_env_file_lines():
    text = "# comment\n\nexport SECRET_KEY='a b=c'\nDEBUG = true\nEMPTY=\nQUOTED=\"x\"\n"
    assert parse_env_file(text) == {
        "SECRET_KEY": "a b=c",
        "DEBUG": "true",
        "EMPTY": "",
        "QUOTED": "x",
    }


def test_env_file_refuses_a_line_that_is_not_an_assignment():
    with pytest.raises(ImproperlyConfigured) as error:
        parse_env_file("DEBUG=true\nmake run\n")
    assert str(error.value) == ".env line 2 is not NAME=value: 'make run'."


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
values = st.text(st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=40).map(
    str.strip
)


@given(st.dictionaries(names, values, max_size=8))
def test_env_file_reads_back_what_was_written(variables):
    text = "".join(f'{name}="{value}"\n' for name, value in variables.items())
    assert parse_env_file(text) == variables
