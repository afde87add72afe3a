"""The GitHub Actions workflow passes actionlint and does what the README says: .ci/run on push and pull request,
the built book published to GitHub Pages from main."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CI = ROOT / ".github" / "workflows" / "ci.yml"


def _actionlint(*paths: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("actionlint")
    if binary is None:
        pytest.fail("actionlint is missing: pip install -r requirements-dev.txt")
    return subprocess.run(
        [binary, "-no-color", *map(str, paths)], capture_output=True, text=True, cwd=ROOT
    )


def test_actionlint_passes():
    assert WORKFLOWS
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The check can fail: a wrong expression and a missing permission key are reported."""
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        CI.read_text()
        .replace("github.event_name", "github.event_nam")
        .replace("runs-on:", "run-on:", 1)
    )
    result = _actionlint(broken)
    assert result.returncode != 0 and "event_nam" in result.stdout


def test_workflow_runs_ci_and_publishes_the_book():
    workflow = yaml.safe_load(CI.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "push" in triggers and "pull_request" in triggers
    build, deploy = workflow["jobs"]["test-and-build"], workflow["jobs"]["deploy-book"]
    steps = build["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in steps)
    upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload and upload[0]["with"]["path"] == "build/book"
    assert deploy["needs"] == "test-and-build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])
