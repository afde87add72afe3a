"""Binder: the Dockerfile repo2docker would build from ``binder/``, and the ``postBuild`` script it runs.

``jupyter-repo2docker --no-build`` prints the Dockerfile without Docker or network. We ask it for Binder's user
(uid 1000, ``jovyan``) and check the lines that matter: Python from ``binder/runtime.txt``, the whole repository
copied before ``pip install -r binder/requirements.txt`` runs from its root (so ``-r ../requirements.txt`` and the
root file's ``-e .`` resolve), then ``binder/postBuild`` as the notebook user. ``postBuild`` itself is run here in a
temporary HOME, pre-seeded offline like the build emulation in ``benchmarks/binder_build.sh``, and a JupyterLab
server started with that HOME shows the session's configuration: a closed notebook's kernel is shut down.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PIP_INSTALL = (
    'RUN ${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir -r "binder/requirements.txt"'
)
POST_BUILD = "RUN ./binder/postBuild"
COPY_REPO = "COPY --chown=1000:1000 src/ ${REPO_DIR}/"


def _venv_path() -> str:
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


@pytest.fixture(scope="module")
def repo2docker():
    """(stdout, stderr) of ``jupyter-repo2docker --no-build`` on this repository, for Binder's user."""
    exe = shutil.which("jupyter-repo2docker", path=_venv_path())
    if exe is None:
        pytest.fail(
            "jupyter-repo2docker is not installed: `pip install -r requirements-dev.txt` pins it"
        )
    command = [exe, "--no-build", "--user-id", "1000", "--user-name", "jovyan", str(ROOT)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or "FROM " not in result.stdout:
        pytest.fail(
            f"{' '.join(command)} failed (exit {result.returncode}):\n{result.stderr[-3000:]}"
        )
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
    copies = [
        line
        for line in lines
        if line.startswith("COPY ") and line.endswith("/tmp/env/environment.lock")
    ]
    assert len(copies) == 1, copies
    source = _unescape(copies[0].split()[2])
    assert source.split("/")[-1].startswith("environment.py-3.11-linux-64.lock"), source


def test_requirements_install_runs_from_the_full_repository_as_the_notebook_user(lines):
    install, copy = _index(lines, PIP_INSTALL), _index(lines, COPY_REPO)
    assert copy < install, (
        "pip must run after the whole repository is copied (the requirements point outside binder/)"
    )
    assert _index(lines, "WORKDIR ${REPO_DIR}") < install, "pip must run from the repository root"
    assert _user_at(lines, install) == "USER ${NB_USER}"
    assert "ARG REPO_DIR=${HOME}" in lines and "HOME=/home/${NB_USER}" in lines
    # The top-level pyproject.toml is ignored once binder/ exists: helpers come from requirements.txt's `-e .`.
    assert not any(line.endswith("pip install --no-cache-dir .") for line in lines)


def test_binder_requirements_reuse_the_one_root_file():
    entries = [
        line.split("#", 1)[0].strip()
        for line in (BINDER / "requirements.txt").read_text().splitlines()
    ]
    entries = [entry for entry in entries if entry]
    assert entries == ["-r ../requirements.txt"], entries
    assert (BINDER / "../requirements.txt").resolve() == ROOT / "requirements.txt"
    root_entries = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "-e ." in root_entries, (
        "the root requirements.txt must install helpers (`-e .`, relative to pip's cwd)"
    )
    test_tools = ("pytest", "nbval", "playwright", "jupyter-repo2docker", "hypothesis", "ruff")
    assert not [e for e in root_entries if e.split("=")[0] in test_tools], (
        "learners and Binder get no test tools"
    )
    dev_entries = [
        line.strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
    ]
    assert "-r requirements.txt" in dev_entries and "jupyter-repo2docker==2026.4.0" in dev_entries


def test_post_build_runs_last_as_the_notebook_user(lines):
    post_build, install = _index(lines, POST_BUILD), _index(lines, PIP_INSTALL)
    assert install < post_build
    assert _user_at(lines, post_build) == "USER ${NB_USER}"
    assert not any("KERAS_HOME" in line for line in lines), (
        "the dataset cache must be the user's ~/.keras"
    )


def test_post_build_script_is_strict_bash():
    script = BINDER / "postBuild"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    commands = [
        line for line in text.splitlines()[1:] if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[0] == "set -euo pipefail", "set -euo pipefail must come before any command"
    assert "keras.datasets.fashion_mnist.load_data()" in text
    assert os.access(script, os.X_OK)


@pytest.fixture(scope="module")
def binder_home(tmp_path_factory) -> Path:
    """The notebook user's HOME after postBuild ran as the build runs it (HOME = that folder, no KERAS_HOME nor
    JUPYTER_CONFIG_DIR), seeded offline from the test session's cache when it holds the four files."""
    home = tmp_path_factory.mktemp("binder") / "jovyan"
    cache = home / ".keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    seeded = os.environ.get("CLIPPING_TESTS_KERAS_HOME")
    files = sorted((Path(seeded) / "datasets" / "fashion-mnist").glob("*.gz")) if seeded else []
    if len(files) == 4:  # else (nothing cached anywhere) postBuild downloads, as on Binder
        for source in files:
            shutil.copyfile(source, cache / source.name)
    result = subprocess.run(
        [str(BINDER / "postBuild")],
        cwd=home.parent,
        env=_session_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"{result.stdout}{result.stderr}\ncache: {sorted(p.name for p in cache.iterdir())}"
    )
    (home / "postBuild.log").write_text(result.stdout)
    return home


def _session_env(home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"KERAS_HOME", "JUPYTER_CONFIG_DIR"}
    }
    env.update(HOME=str(home), PATH=_venv_path())
    return env


def test_post_build_prefetches_into_the_users_keras_cache(binder_home):
    cache = binder_home / ".keras" / "datasets" / "fashion-mnist"
    assert (
        "postBuild: Fashion-MNIST cached in " + str(cache)
        in (binder_home / "postBuild.log").read_text()
    )
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        assert (cache / name).stat().st_size > 0


def test_post_build_installs_the_session_configuration(binder_home):
    """The two configuration files of binder/ land in the user's Jupyter config directory, unchanged."""
    server = binder_home / ".jupyter" / "jupyter_server_config.json"
    overrides = binder_home / ".jupyter" / "labconfig" / "default_setting_overrides.json"
    assert server.read_text() == (BINDER / "jupyter_server_config.json").read_text()
    assert overrides.read_text() == (BINDER / "default_setting_overrides.json").read_text()
    config = json.loads(server.read_text())
    assert config["ServerApp"]["default_url"] == "/lab/tree/notebooks"
    assert config["LabApp"]["default_url"] == "/lab/tree/notebooks"
    culling = config["MappingKernelManager"]
    assert culling["cull_connected"] is False and culling["cull_busy"] is False, (
        "never cull an open or busy kernel"
    )
    assert (
        60 <= culling["cull_idle_timeout"] <= 600
        and 0 < culling["cull_interval"] <= culling["cull_idle_timeout"]
    )
    assert json.loads(overrides.read_text()) == {
        "@jupyterlab/notebook-extension:tracker": {"kernelShutdown": True}
    }
    assert (
        f"shut down after {culling['cull_idle_timeout']} idle seconds"
        in (binder_home / "postBuild.log").read_text()
    )


def test_the_sessions_jupyterlab_reads_it(binder_home):
    """What the session's server itself reports: the culling values (``--show-config``), and closing a notebook's
    tab shuts its kernel down by default (the notebook tracker's schema as the settings API serves it); a kernel
    that no tab ever connected to is culled (here with the timeout shortened on the command line)."""
    env = _session_env(binder_home)
    shown = subprocess.run(
        [sys.executable, "-m", "jupyterlab", "--show-config"],
        cwd=binder_home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    culling = json.loads((BINDER / "jupyter_server_config.json").read_text())[
        "MappingKernelManager"
    ]
    for key, value in culling.items():
        assert f".{key} = {value}" in shown, (
            f"MappingKernelManager.{key} is not {value} in:\n{shown}"
        )
    short = ("--MappingKernelManager.cull_idle_timeout=2", "--MappingKernelManager.cull_interval=1")
    with _lab(binder_home, *short) as api:
        tracker = api("GET", "/lab/api/settings/@jupyterlab/notebook-extension:tracker")
        assert tracker["schema"]["properties"]["kernelShutdown"]["default"] is True
        kernel = api("POST", "/api/kernels", {"name": "python3"})
        deadline = time.monotonic() + 60
        while any(k["id"] == kernel["id"] for k in api("GET", "/api/kernels")):
            assert time.monotonic() < deadline, "a kernel without any connection was not culled"
            time.sleep(0.5)


@contextlib.contextmanager
def _lab(home: Path, *options: str):
    """A JupyterLab server as the session starts it (HOME = ``home``) on 127.0.0.1 with a token; yields a
    ``api(method, route, body=None)`` function for its REST API."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    env = _session_env(home) | {"JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={home}",
        "--ServerApp.allow_root=True",
        *options,
    ]
    log = home / "jupyterlab.log"
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT)

    def api(method: str, route: str, body: dict | None = None):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{route}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, f"JupyterLab exited:\n{log.read_text()[-3000:]}"
            try:
                api("GET", "/api/status")
                break
            except OSError:
                assert time.monotonic() < deadline, (
                    f"JupyterLab did not answer:\n{log.read_text()[-3000:]}"
                )
                time.sleep(0.3)
        yield api
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_readme_gives_the_configured_culling_delay():
    culling = json.loads((BINDER / "jupyter_server_config.json").read_text())[
        "MappingKernelManager"
    ]
    minutes = culling["cull_idle_timeout"] / 60
    section = (
        (ROOT / "README.md").read_text().split("## Run it on Binder", 1)[1].split("\n## ", 1)[0]
    )
    assert f"shut down after {minutes:g} idle minutes" in " ".join(section.split())
    assert "kernelShutdown" in section and "Close and Shut Down Notebook" in " ".join(
        section.split()
    )
