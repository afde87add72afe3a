"""A newcomer's test run: a clean ``git clone`` with no ``../shared`` beside it, Fashion-MNIST only in the user's own
Keras cache (``~/.keras``, as a first run of a notebook leaves it), no network. The README's test command's ``pytest``
must pass there and must leave ``~/.keras`` exactly as it was (the tests only read it).

Runs this environment's Python (the slow part of a newcomer's setup is the install, which CI's fresh virtualenv does
anyway) on ``tests/test_data.py`` and notebook 01 inside the clone, with a temporary ``HOME`` holding the seeded
``~/.keras``, ``KERAS_HOME`` unset, and the network cut (a new network namespace when ``unshare`` may make one, and
unreachable proxies for Keras's urllib in any case). Kernels import the clone's ``helpers`` (``PYTHONPATH``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import data_cache

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/01_what_exploding_gradients_are.ipynb"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def offline_prefix() -> list[str]:
    """A new network namespace with only the loopback device up (the kernels talk to pytest over 127.0.0.1), when
    ``unshare`` and ``ip`` may make one here; else nothing (the proxies below still stop Keras's downloads)."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare and ip:
        prefix = [unshare, "--net", "sh", "-c", f'{ip} link set lo up && exec "$@"', "offline"]
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return []


def test_readme_pytest_passes_in_a_clean_clone_with_only_the_users_keras_cache(tmp_path):
    if (
        subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True
        ).returncode
        != 0
    ):
        pytest.fail(f"{ROOT} is not a git checkout: this test clones it")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    assert not (clone.parent / "shared").exists()
    home = tmp_path / "home"
    cache = home / ".keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in (
        data_cache.FASHION_MNIST_FILES
    ):  # the session's data, as the user's own cache would hold it
        shutil.copyfile(data_cache.keras_cache_dir() / name, cache / name)
    (home / ".keras" / "keras.json").write_text(
        '{"floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow"}'
    )
    before = snapshot(home / ".keras")

    drop = {
        "KERAS_HOME",
        "CLIPPING_TESTS_KERAS_HOME",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "MPLCONFIGDIR",
    }
    env = {key: value for key, value in os.environ.items() if key not in drop}
    unreachable = (
        "http://127.0.0.1:9"  # nothing listens on the discard port: any download fails at once
    )
    env.update(
        HOME=str(home),
        PYTHONPATH=str(clone),
        http_proxy=unreachable,
        https_proxy=unreachable,
        HTTP_PROXY=unreachable,
        HTTPS_PROXY=unreachable,
        no_proxy="",
        NO_PROXY="",
        TF_CPP_MIN_LOG_LEVEL="2",
        TF_ENABLE_ONEDNN_OPTS="0",
    )
    command = [
        *offline_prefix(),
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "tests/test_data.py",
        NOTEBOOK,
    ]
    result = subprocess.run(
        command, cwd=clone, env=env, capture_output=True, text=True, timeout=900
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
    assert f"copied from {cache}" in result.stdout, (
        "conftest must take the data from the user's Keras cache"
    )
    assert snapshot(home / ".keras") == before, "the tests must not write into ~/.keras"
