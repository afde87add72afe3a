"""CITATION.cff is valid (``cffconvert --validate``) and says what the README and LICENSE say.

cffconvert 2.0.0 needs jsonschema < 4, which JupyterLab's packages cannot use, so it runs from a throw-away
virtualenv made from ``requirements-citation.txt`` (about 30 s of pip). If pip cannot install it, the test fails
under CI (``CI`` set) and is skipped elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CITATION = ROOT / "CITATION.cff"


@pytest.fixture(scope="module")
def cffconvert(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("cffconvert") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            str(ROOT / "requirements-citation.txt"),
        ],
        capture_output=True,
        text=True,
    )
    if install.returncode:
        reason = f"cannot install cffconvert: {install.stderr[-1500:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return venv / "bin" / "cffconvert"


def _validate(cffconvert: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(cffconvert), "--validate", "-i", str(path)], capture_output=True, text=True
    )


def test_citation_cff_validates(cffconvert):
    result = _validate(cffconvert, CITATION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_cffconvert_rejects_a_broken_file(cffconvert, tmp_path):
    """The check can fail: the same file without its authors is invalid."""
    data = yaml.safe_load(CITATION.read_text())
    del data["authors"]
    broken = tmp_path / "CITATION.cff"
    broken.write_text(yaml.safe_dump(data))
    assert _validate(cffconvert, broken).returncode != 0


def test_citation_licences_match_license_file():
    data = yaml.safe_load(CITATION.read_text())
    licence = (ROOT / "LICENSE").read_text()
    assert set(data["license"]) == {"MIT", "CC-BY-4.0"}
    assert "MIT License" in licence and "CC BY 4.0" in licence
