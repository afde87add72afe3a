"""The support matrix is stated once and kept in step: ``requires-python``, the setup cell's check, Binder's Python,
the README, and the environment markers that choose ``tensorflow-cpu`` or ``tensorflow``.

Where TensorFlow 2.21.0 has wheels was checked with ``pip download --no-deps --only-binary=:all: --platform P
--python-version V`` for each platform P and Python V (issue 12): ``tensorflow-cpu`` only for manylinux x86_64 and
win_amd64; ``tensorflow`` also for manylinux aarch64 and macOS arm64; neither for macOS x86_64 nor for Python 3.14.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from helpers import setup

ROOT = Path(__file__).resolve().parents[1]

#: platform -> (sys_platform, platform_machine as CPython reports it, the TensorFlow package with a 2.21.0 wheel there)
PLATFORMS = {
    "Linux x86_64": ("linux", "x86_64", "tensorflow-cpu"),
    "Linux aarch64": ("linux", "aarch64", "tensorflow"),
    "macOS arm64": ("darwin", "arm64", "tensorflow"),
    "Windows amd64": ("win32", "AMD64", "tensorflow-cpu"),
}


def tensorflow_requirements() -> list[Requirement]:
    lines = [
        line.split("#", 1)[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
    ]
    return [Requirement(line) for line in lines if line.startswith("tensorflow")]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_markers_choose_exactly_the_tensorflow_that_has_a_wheel(platform):
    sys_platform, machine, expected = PLATFORMS[platform]
    environment = {"sys_platform": sys_platform, "platform_machine": machine}
    chosen = [r for r in tensorflow_requirements() if r.marker.evaluate(environment)]
    assert [r.name for r in chosen] == [expected]
    assert str(chosen[0].specifier) == "==2.21.0"


@pytest.mark.parametrize(
    "environment", [("darwin", "x86_64"), ("win32", "ARM64"), ("freebsd14", "amd64")]
)
def test_exactly_one_tensorflow_anywhere_else_too(environment):
    values = dict(zip(("sys_platform", "platform_machine"), environment))
    assert len([r for r in tensorflow_requirements() if r.marker.evaluate(values)]) == 1


def test_requires_python_setup_check_and_binder_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    allowed = SpecifierSet(project["requires-python"])
    for minor in range(8, 16):
        version = f"3.{minor}.0"
        assert (version in allowed) == ((3, minor) in setup.SUPPORTED_PYTHON), version
        assert (setup.python_advice((3, minor, 0)) is None) == (version in allowed)
    binder = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert binder.startswith("python-") and f"{binder.removeprefix('python-')}.0" in allowed


def test_readme_states_the_same_matrix():
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "CPython **3.11, 3.12 or 3.13**" in readme
    assert "**Linux x86_64 or aarch64, macOS on Apple silicon (arm64), Windows amd64**" in readme
    assert "Not supported: **Intel Macs** (TensorFlow's last macOS x86_64 release is 2.16" in readme
    assert 'requires-python = ">=3.11,<3.14"' in readme
    assert "py -3.11 -m venv .venv" in readme and ".venv\\Scripts\\Activate.ps1" in readme
