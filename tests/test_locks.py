"""The lock files match pyproject.toml: every dependency is pinned at a version it allows, with
hashes, and the development lock pins the app's packages at the production lock's versions.
A change to pyproject.toml without `make lock` fails here."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(name: str) -> dict[str, str]:
    """Package name -> pinned version; each pin must carry at least one sha256 hash."""
    text = (ROOT / name).read_text()
    found = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = PIN.match(block)
        if match:
            assert "--hash=sha256:" in block, f"{match[1]} has no hash in {name}"
            found[canonicalize_name(match[1])] = match[2]
    return found


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def assert_allowed(requirements: list[str], locked: dict[str, str], lock: str) -> None:
    for line in requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in {lock}: run `make lock`."
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{lock} pins {requirement.name}=={locked[name]}, which {line!r} does not allow: "
            "run `make lock`."
        )


def test_the_production_lock_pins_every_dependency_at_an_allowed_version():
    locked = pins("requirements.lock")
    assert_allowed(project()["project"]["dependencies"], locked, "requirements.lock")
    assert "gunicorn" in locked
    # Nothing of the development group in production.
    assert "pytest" not in locked
    assert "ruff" not in locked


def test_the_development_lock_adds_the_dev_group_at_the_same_versions():
    production = pins("requirements.lock")
    development = pins("requirements-dev.lock")
    config = project()
    assert_allowed(config["project"]["dependencies"], development, "requirements-dev.lock")
    assert_allowed(config["dependency-groups"]["dev"], development, "requirements-dev.lock")
    assert {name: development.get(name) for name in production} == production
