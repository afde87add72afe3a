"""Binder: the Dockerfile repo2docker would build from ``binder/``, and the ``postBuild`` script it runs.

``jupyter-repo2docker --no-build`` prints the Dockerfile without Docker or network. We ask it for Binder's user
(uid 1000, ``jovyan``) and check the lines that matter: Python from ``binder/runtime.txt``, the whole repository
copied before ``pip install -r binder/requirements.txt`` runs from its root (so ``-r ../requirements.txt`` and the
root file's ``-e .`` resolve), then ``binder/postBuild`` as the notebook user. ``postBuild`` itself is run here in a
temporary HOME, pre-seeded offline like the build emulation in ``benchmarks/binder_build.sh``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PIP_INSTALL = 'RUN ${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir -r "binder/requirements.txt"'
POST_BUILD = "RUN ./binder/postBuild"
COPY_REPO = "COPY --chown=1000:1000 src/ ${REPO_DIR}/"


def _venv_path() -> str:
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


@pytest.fixture(scope="module")
def repo2docker():
    """(stdout, stderr) of ``jupyter-repo2docker --no-build`` on this repository, for Binder's user."""
    exe = shutil.which("jupyter-repo2docker", path=_venv_path())
    if exe is None:
        pytest.fail("jupyter-repo2docker is not installed: `pip install -r requirements-dev.txt` pins it")
    command = [exe, "--no-build", "--user-id", "1000", "--user-name", "jovyan", str(ROOT)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or "FROM " not in result.stdout:
        pytest.fail(f"{' '.join(command)} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout, result.stderr


@pytest.fixture(scope="module")
def lines(repo2docker) -> list[str]:
    return [line.strip() for line in repo2docker[0].splitlines()]


def _index(lines: list[str], wanted: str) -> int:
    assert wanted in lines, f"the Dockerfile has no line {wanted!r}"
    return lines.index(wanted)


def _user_at(lines: list[str], position: int) -> str:
    users = [line for line in lines[:position] if line.startswith("USER ")]
    return users[-1] if users else "USER root"


def _unescape(name: str) -> str:
    """repo2docker names build files with escapism's ``-XX`` hex escapes."""
    return re.sub(r"-([0-9a-f]{2})", lambda match: chr(int(match[1], 16)), name)


def test_runtime_pins_python_311_and_the_image_uses_it(repo2docker, lines):
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    assert "Building conda environment for python=3.11" in repo2docker[1]
    copies = [line for line in lines if line.startswith("COPY ") and line.endswith("/tmp/env/environment.lock")]
    assert len(copies) == 1, copies
    source = _unescape(copies[0].split()[2])
    assert source.split("/")[-1].startswith("environment.py-3.11-linux-64.lock"), source


def test_requirements_install_runs_from_the_full_repository_as_the_notebook_user(lines):
    install, copy = _index(lines, PIP_INSTALL), _index(lines, COPY_REPO)
    assert copy < install, "pip must run after the whole repository is copied (the requirements point outside binder/)"
    assert _index(lines, "WORKDIR ${REPO_DIR}") < install, "pip must run from the repository root"
    assert _user_at(lines, install) == "USER ${NB_USER}"
    assert "ARG REPO_DIR=${HOME}" in lines and "HOME=/home/${NB_USER}" in lines
    # The top-level pyproject.toml is ignored once binder/ exists: helpers come from requirements.txt's `-e .`.
    assert not any(line.endswith("pip install --no-cache-dir .") for line in lines)


def test_binder_requirements_reuse_the_one_root_file():
    entries = [line.split("#", 1)[0].strip() for line in (BINDER / "requirements.txt").read_text().splitlines()]
    entries = [entry for entry in entries if entry]
    assert entries == ["-r ../requirements.txt"], entries
    assert (BINDER / "../requirements.txt").resolve() == ROOT / "requirements.txt"
    root_entries = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "-e ." in root_entries, "the root requirements.txt must install helpers (`-e .`, relative to pip's cwd)"
    test_tools = ("pytest", "nbval", "playwright", "jupyter-repo2docker", "hypothesis", "ruff")
    assert not [e for e in root_entries if e.split("=")[0] in test_tools], "learners and Binder get no test tools"
    dev_entries = [line.strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()]
    assert "-r requirements.txt" in dev_entries and "jupyter-repo2docker==2026.4.0" in dev_entries


def test_post_build_runs_last_as_the_notebook_user(lines):
    post_build, install = _index(lines, POST_BUILD), _index(lines, PIP_INSTALL)
    assert install < post_build
    assert _user_at(lines, post_build) == "USER ${NB_USER}"
    assert not any("KERAS_HOME" in line for line in lines), "the dataset cache must be the user's ~/.keras"


def test_post_build_script_is_strict_bash():
    script = BINDER / "postBuild"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    commands = [line for line in text.splitlines()[1:] if line.strip() and not line.lstrip().startswith("#")]
    assert commands[0] == "set -euo pipefail", "set -euo pipefail must come before any command"
    assert "keras.datasets.fashion_mnist.load_data()" in text
    assert os.access(script, os.X_OK)


def test_post_build_prefetches_into_the_users_keras_cache(tmp_path):
    """Run postBuild as the build does (HOME = the notebook user's, no KERAS_HOME), seeded offline from the test
    session's cache when it holds the four files."""
    home = tmp_path / "jovyan"
    cache = home / ".keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    seeded = os.environ.get("CLIPPING_TESTS_KERAS_HOME")
    files = sorted((Path(seeded) / "datasets" / "fashion-mnist").glob("*.gz")) if seeded else []
    if len(files) == 4:  # else (nothing cached anywhere) postBuild downloads, as on Binder
        for source in files:
            shutil.copyfile(source, cache / source.name)
    env = {key: value for key, value in os.environ.items() if key not in {"KERAS_HOME", "JUPYTER_CONFIG_DIR"}}
    env.update(HOME=str(home), PATH=_venv_path())
    result = subprocess.run(
        [str(BINDER / "postBuild")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\ncache: {sorted(p.name for p in cache.iterdir())}"
    assert "postBuild: Fashion-MNIST cached in " + str(cache) in result.stdout
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        assert (cache / name).stat().st_size > 0
    config = json.loads((home / ".jupyter" / "jupyter_server_config.json").read_text())
    assert config["ServerApp"]["default_url"] == "/lab/tree/notebooks"
