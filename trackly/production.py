"""`python -m trackly.production`: whether the environment holds what serving production needs.

`make serve` and deploy/systemd/trackly-web.service run it before gunicorn starts. Like gunicorn,
it reads the environment alone (`.env` is read by `manage.py` only, for development). What is
missing is said in one line on stderr, with exit status 1; nothing is printed when all is set.
"""

import os
import sys

REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS")
TRUE = {"1", "true", "yes", "on"}


def production_problems(environ) -> list[str]:
    """What stops `environ` from serving production, each as part of a sentence."""
    problems = []
    missing = [name for name in REQUIRED if not environ.get(name, "").strip()]
    if missing:
        problems.append(f"set {' and '.join(missing)} in the environment")
    if environ.get("DEBUG", "").strip().lower() in TRUE:
        problems.append("turn DEBUG off")
    return problems


def main() -> int:
    problems = production_problems(os.environ)
    if problems:
        print(
            f"Trackly is not configured for production: {'; '.join(problems)} "
            "(README: Production).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
