"""requirements.lock: the environment holds exactly the locked versions, and the lock covers pyproject.toml.

`./run setup` installs the lock with `pip --require-hashes --no-deps`; these tests catch an environment
that drifted from it (a hand-installed upgrade, a stale .venv) and a pyproject.toml edited without
`./run lock`.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
PYPROJECT = REPO / "pyproject.toml"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
_TARGET = re.compile(r"^# target: python (\d+)\.(\d+), platform (\S+)$", re.M)


def parse_lock(text: str) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, sha256 hashes)} from a hashed requirements file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            assert current not in pins, f"{current} is pinned twice in the lock"
            pins[current] = (match.group(2), [])
        elif current is not None:
            pins[current][1].extend(_HASH.findall(line))
    return pins


def drift(pins: dict[str, tuple[str, list[str]]], installed=metadata.version) -> list[str]:
    """One line per locked package that is missing or installed at another version."""
    lines = []
    for name, (locked, _hashes) in sorted(pins.items()):
        try:
            have = installed(name)
        except metadata.PackageNotFoundError:
            lines.append(f"{name}: locked {locked}, not installed")
            continue
        if Version(have) != Version(locked):
            lines.append(f"{name}: locked {locked}, installed {have}")
    return lines


def declared_requirements() -> list[Requirement]:
    """pyproject.toml's dependencies, its test extra and its build requirements, for this platform."""
    project = tomllib.loads(PYPROJECT.read_text())
    texts = (project["project"]["dependencies"] + project["project"]["optional-dependencies"]["test"]
             + project["build-system"]["requires"])
    reqs = [Requirement(t) for t in texts]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": "test"})]


@pytest.fixture(scope="module")
def lock_text() -> str:
    text = LOCK.read_text()
    target = _TARGET.search(text)
    assert target, f"{LOCK.name} has no '# target:' line: rewrite it with ./run lock"
    want = (int(target.group(1)), int(target.group(2)))
    here = (sys.implementation.name, sys.version_info[:2], platform.system(), platform.machine())
    if here != ("cpython", want, "Linux", "x86_64"):
        message = (f"{LOCK.name} is for CPython {want[0]}.{want[1]} on Linux x86_64, this is {here}: "
                   "./run setup installed unpinned versions")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return text


def test_every_locked_package_is_installed_at_the_locked_version(lock_text):
    pins = parse_lock(lock_text)
    assert len(pins) > 50
    problems = drift(pins)
    assert not problems, "the environment differs from requirements.lock (./run setup reinstalls it):\n" + "\n".join(
        problems)


def test_every_declared_dependency_is_locked_within_its_bounds(lock_text):
    pins = parse_lock(lock_text)
    missing, outside = [], []
    for req in declared_requirements():
        name = canonicalize_name(req.name)
        if name not in pins:
            missing.append(str(req))
        elif not req.specifier.contains(pins[name][0], prereleases=True):
            outside.append(f"{req} but locked {pins[name][0]}")
    assert not missing and not outside, (
        "pyproject.toml and requirements.lock disagree (run ./run lock): "
        f"not locked: {missing}; locked outside the bounds: {outside}")


def test_every_locked_package_has_hashes(lock_text):
    unhashed = [name for name, (_v, hashes) in parse_lock(lock_text).items() if not hashes]
    assert not unhashed, f"locked without a hash: {unhashed}"


def test_a_different_version_is_reported():
    """The check itself: a pin that differs from what is installed is named, with both versions."""
    text = ("numpy==0.0.1 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via twin\n"
            "not-a-real-package-twin==1.0 \\\n    --hash=sha256:" + "1" * 64 + "\n")
    pins = parse_lock(text)
    assert pins == {"numpy": ("0.0.1", ["0" * 64]), "not-a-real-package-twin": ("1.0", ["1" * 64])}
    assert drift(pins) == ["not-a-real-package-twin: locked 1.0, not installed",
                           f"numpy: locked 0.0.1, installed {metadata.version('numpy')}"]
