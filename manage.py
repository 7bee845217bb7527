#!/usr/bin/env python
import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackly.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from trackly.envfile import load_env_file

    try:
        # A development checkout's settings, written by `make run`; the environment wins.
        load_env_file(Path(__file__).resolve().parent / ".env")
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 (reads the settings: a bad value stops here)
    except ImproperlyConfigured as error:
        sys.exit(f"Trackly is not configured: {error}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
