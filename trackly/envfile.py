"""The `.env` file of a development checkout: settings for `manage.py` that `make run` writes.

Lines are `NAME=value` (an `export ` before the name and quotes around the value are allowed),
blank, or comments starting with `#`. A variable already in the environment wins over the file,
so a command line can still say `DEBUG=false python manage.py ...`. Only `manage.py` reads the
file; a server started another way (gunicorn, `trackly.wsgi`) reads the environment alone.
"""

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_LINE = re.compile(r"(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*)")


def parse_env_file(text: str, source: str = ".env") -> dict[str, str]:
    """The variables of an env file's `text`; a line that is none of the above is an error
    naming `source` and the line's number."""
    variables = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ImproperlyConfigured(
                f"{source} line {number} is not NAME=value: {raw.strip()[:60]!r}."
            )
        value = match["value"].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        variables[match["name"]] = value
    return variables


def load_env_file(path: Path) -> None:
    """Put the file's variables into the environment, under those already there; no file, no
    change."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    for name, value in parse_env_file(text, source=str(path.name)).items():
        os.environ.setdefault(name, value)
