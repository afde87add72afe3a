"""Test setup shared by the helper tests and the notebooks nbval executes.

Every test run reads Fashion-MNIST from a temporary ``KERAS_HOME`` made before anything imports Keras, so no test
writes into the user's Keras cache. Its four files are copied from, in this order:

1. ``../shared/datasets/fashion-mnist/`` beside the checkout (CI, offline machines: a small real subset);
2. the user's own Keras cache (``$KERAS_HOME``, default ``~/.keras``, under ``datasets/fashion-mnist``), only read;
3. nowhere: the folder stays empty and the first test that loads the data downloads it (about 30 MB) into it.

nbval's kernels inherit the environment, so the notebooks read the same copy. The folder is deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

ROOT = Path(__file__).resolve().parent
SHARED_FASHION_MNIST = ROOT.parent / "shared" / "datasets" / "fashion-mnist"
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def user_keras_cache() -> Path:
    """Where Keras keeps Fashion-MNIST for this user (Keras's own rule: ``$KERAS_HOME``, else ``~/.keras``, else
    ``/tmp/.keras`` when the home folder is not writable)."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "datasets" / "fashion-mnist"


def data_source() -> Path | None:
    """The first folder of the module docstring's list that holds all four files, or None."""
    for folder in (SHARED_FASHION_MNIST, user_keras_cache()):
        if all((folder / name).is_file() for name in FILES):
            return folder
    return None


def pytest_configure(config):
    if (
        "CLIPPING_TESTS_KERAS_HOME" in os.environ
    ):  # a pytest started inside a test run keeps the run's folder
        return
    source = data_source()
    home = Path(tempfile.mkdtemp(prefix="keras-home-"))
    target = home / "datasets" / "fashion-mnist"
    target.mkdir(parents=True)
    if source is not None:
        for name in FILES:
            shutil.copyfile(
                source / name, target / name
            )  # content only: the copies are writable test files
    os.environ["KERAS_HOME"] = str(home)
    os.environ["CLIPPING_TESTS_KERAS_HOME"] = str(home)
    config._clipping_keras_home = home
    config._clipping_data_source = source


def pytest_report_header(config):
    home = getattr(config, "_clipping_keras_home", None)
    if home is None:
        return None
    source = config._clipping_data_source
    origin = (
        f"copied from {source}"
        if source
        else "not cached anywhere: downloaded into it by the first test"
    )
    return f"Fashion-MNIST: temporary KERAS_HOME {home}, {origin}"


def pytest_unconfigure(config):
    home = getattr(config, "_clipping_keras_home", None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)
        os.environ.pop("CLIPPING_TESTS_KERAS_HOME", None)
