"""Installs are locked: every dependency pyproject.toml names is pinned, with hashes, in the lock file
its install target reads, and the environment the suite runs in is the locked one."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)")


def _locked(name: str) -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes) of one lock file."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (REPO / "requirements" / name).read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), 0)
        if current and "--hash=sha256:" in line:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def _declared(*extras: str) -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"]) + [s for extra in extras for s in project["optional-dependencies"][extra]]
    return {canonicalize_name(Requirement(spec).name) for spec in specs}


def test_every_declared_dependency_is_pinned_with_hashes():
    app, dev = _locked("app.txt"), _locked("dev.txt")
    assert _declared() <= set(app), f"not in requirements/app.txt: {_declared() - set(app)}"
    wanted = _declared("dev", "sentence-transformers")
    assert wanted <= set(dev), f"not in requirements/dev.txt: {wanted - set(dev)}"
    assert all(hashes for _, hashes in (app | dev).values()), "a pin without a hash"
    assert {name: pin[0] for name, pin in app.items()} == {name: dev[name][0] for name in app}, \
        "the app and dev locks disagree on a shared package"


def test_torch_is_the_cpu_build():
    version, _ = _locked("dev.txt")["torch"]
    assert version.endswith("+cpu"), version
    assert "torch" not in _locked("app.txt"), "the service itself needs no torch"


def test_the_suite_runs_in_the_locked_environment():
    drift = {}
    for name, (version, _) in _locked("dev.txt").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            drift[name] = (version, None)
            continue
        if installed != version:
            drift[name] = (version, installed)
    assert not drift, f"locked vs installed (make install-dev installs the lock): {drift}"
