"""Test setup shared by the helper tests and the notebooks nbval executes.

When ``../shared/datasets/fashion-mnist/`` exists beside the checkout (CI, offline machines), its files are copied
into a temporary ``KERAS_HOME`` before anything runs, so the unmodified Keras loader reads them and nothing touches
the user's real ``~/.keras``. nbval's kernels inherit the environment, so the notebooks read the same copy.
Elsewhere the loader downloads the full dataset as usual.
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


def pytest_configure(config):
    if SHARED_FASHION_MNIST.is_dir() and "CLIPPING_TESTS_KERAS_HOME" not in os.environ:
        home = Path(tempfile.mkdtemp(prefix="keras-home-"))
        target = home / "datasets" / "fashion-mnist"
        target.mkdir(parents=True)
        for source in SHARED_FASHION_MNIST.glob("*.gz"):
            shutil.copy(source, target / source.name)
        os.environ["KERAS_HOME"] = str(home)
        os.environ["CLIPPING_TESTS_KERAS_HOME"] = str(home)
        config._clipping_keras_home = home


def pytest_unconfigure(config):
    home = getattr(config, "_clipping_keras_home", None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)
        os.environ.pop("CLIPPING_TESTS_KERAS_HOME", None)
