"""Django's deployment checklist passes with production settings."""

import os
import secrets
import subprocess
import sys

from django.conf import settings


def test_check_deploy_reports_no_issues_with_production_settings():
    # Only what production sets: nothing from the test run (DEBUG, test settings) leaks in.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "trackly.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "trackly.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Warnings go to stderr; the verdict line to stdout.
    assert result.stderr == ""
    assert result.stdout.splitlines() == ["System check identified no issues (0 silenced)."]
    assert result.returncode == 0
