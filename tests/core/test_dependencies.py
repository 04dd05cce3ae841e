"""Declared dependency floors are the tested ones: pyproject.toml and .ci/min-versions.txt cannot drift apart.

`.ci/run` installs `.ci/min-versions.txt` as pip constraints into a second venv and runs the suite there, so a
floor in pyproject.toml is only honest while it equals the version pinned in that file.
"""

from __future__ import annotations

import os
import re
from importlib import metadata

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO

from loratui.tomlio import tomllib

MIN_VERSIONS = REPO / ".ci" / "min-versions.txt"

# Libraries whose private internals loratui uses (loratui/tui/textual_compat.py): capped below the next minor.
CAPPED = {"textual", "rich"}

# Floors that name no release, as {name: (floor in pyproject.toml, oldest published version that satisfies it)}.
UNRELEASED_FLOORS: dict[str, tuple[str, str]] = {}


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _runtime() -> list[Requirement]:
    """[project].dependencies."""
    return [Requirement(line) for line in _project()["dependencies"]]


def _requirements() -> list[Requirement]:
    """Runtime dependencies and those of every extra."""
    extras = _project().get("optional-dependencies", {}).values()
    return _runtime() + [Requirement(line) for lines in extras for line in lines]


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, raw in enumerate(MIN_VERSIONS.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        found = re.fullmatch(r"([A-Za-z0-9._-]+)==([0-9][A-Za-z0-9.]*)", line)
        assert found, f"{MIN_VERSIONS.name}:{number}: expected 'name==version', got {raw!r}"
        name = canonicalize_name(found.group(1))
        assert name not in pins, f"{MIN_VERSIONS.name}:{number}: {name} pinned twice"
        pins[name] = found.group(2)
    return pins


def _floor(req: Requirement) -> str | None:
    floors = [spec.version for spec in req.specifier if spec.operator == ">="]
    assert len(floors) <= 1, f"{req}: more than one floor"
    return floors[0] if floors else None


def test_every_runtime_dependency_has_a_floor_pinned_in_min_versions():
    pins = _pins()
    for req in _runtime():
        name = canonicalize_name(req.name)
        floor = _floor(req)
        assert floor, f"pyproject.toml: {req} has no '>=' floor"
        assert name in pins, f"pyproject.toml declares {req} but {MIN_VERSIONS.name} has no {name}==..."
        expected = UNRELEASED_FLOORS.get(name, (floor, floor))
        assert floor == expected[0] and Version(pins[name]) == Version(expected[1]), (
            f"floor drift: pyproject.toml says {req}, {MIN_VERSIONS.name} pins {name}=={pins[name]}")


def test_floors_in_extras_agree_with_min_versions():
    pins = _pins()
    for req in _requirements():
        name, floor = canonicalize_name(req.name), _floor(req)
        if name in pins and floor and name not in UNRELEASED_FLOORS:
            assert Version(floor) == Version(pins[name]), (
                f"floor drift: pyproject.toml says {req}, {MIN_VERSIONS.name} pins {name}=={pins[name]}")


def test_min_versions_pins_only_declared_dependencies():
    declared = {canonicalize_name(req.name) for req in _runtime()}
    stale = sorted(set(_pins()) - declared)
    assert not stale, f"{MIN_VERSIONS.name} pins packages pyproject.toml no longer depends on: {stale}"


def test_private_internals_are_capped_below_the_next_minor():
    for req in _runtime():
        if canonicalize_name(req.name) in CAPPED:
            caps = [spec for spec in req.specifier if spec.operator == "<"]
            assert caps, f"{req}: loratui uses its private internals, so it needs an upper bound '<X.Y'"
            assert len(Version(caps[0].version).release) == 2, f"{req}: cap on the minor version, e.g. <8.3"


def _applies(req: Requirement) -> bool:
    return req.marker is None or req.marker.evaluate(default_environment())


def test_installed_versions_satisfy_pyproject():
    """The environment the suite runs in is one that pyproject.toml allows."""
    for req in _runtime():
        if not _applies(req):
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{req.name} is declared but not installed")
        assert req.specifier.contains(installed, prereleases=True), f"installed {req.name} {installed}, declared {req}"


@pytest.mark.skipif(not os.environ.get("LORATUI_MIN_VERSIONS"), reason="only in the minimum-versions run of .ci/run")
def test_minimum_versions_run_really_has_the_floors():
    """In `.ci/run`'s second run (LORATUI_MIN_VERSIONS=1) every pinned package that applies is at its floor."""
    markers = {canonicalize_name(req.name): req for req in _runtime()}
    for name, pin in _pins().items():
        if name in markers and not _applies(markers[name]):
            continue
        assert Version(metadata.version(name)) == Version(pin), f"{name} {metadata.version(name)} installed, pin {pin}"
