"""helpers.data: the real Keras loader through KERAS_HOME, the clear offline error, the article's pipeline."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import data


def test_fashion_mnist_is_scaled_sequences_of_rows():
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    for x, y in ((x_train, y_train), (x_test, y_test)):
        assert x.dtype == np.float32 and x.ndim == 3 and x.shape[1:] == (28, 28)
        assert len(x) == len(y) > 0
        assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
        assert y.dtype == np.int64 and set(np.unique(y)) <= set(range(10))


# Keras reads KERAS_HOME once, at import: these run in a fresh interpreter, as a user's session would.
NO_NETWORK = """
import socket

def refuse(*args, **kwargs):
    raise OSError("network disabled by the test")

socket.getaddrinfo = refuse
socket.socket.connect = refuse
"""


def run_python(code: str, keras_home) -> subprocess.CompletedProcess:
    env = os.environ | {"KERAS_HOME": str(keras_home)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_cache_dir_follows_keras_home(tmp_path):
    result = run_python("from helpers import data; print(data.keras_cache_dir())", tmp_path)
    assert result.stdout.strip() == str(tmp_path / "datasets" / "fashion-mnist"), result.stderr


def test_no_network_and_no_cache_gives_one_clear_error(tmp_path):
    result = run_python(NO_NETWORK + "from helpers import data\ndata.load_fashion_mnist()\n", tmp_path)
    assert result.returncode != 0
    error = result.stderr
    assert error.count("Traceback") == 1 and "urllib" not in error.split("DatasetUnavailableError")[0]
    message = error[error.index("helpers.data.DatasetUnavailableError") :]
    assert str(tmp_path / "datasets" / "fashion-mnist") in message
    for name in data.FASHION_MNIST_FILES:
        assert name in message
    assert "keras.datasets.fashion_mnist.load_data()" in message and "KERAS_HOME" in message
    assert "network disabled by the test" in message  # the reason, in one line


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_cached_file_is_named_with_the_fix(tmp_path, damage):
    source = Path(os.environ["KERAS_HOME"]) / "datasets" / "fashion-mnist"
    target = tmp_path / "datasets" / "fashion-mnist"
    shutil.copytree(source, target)
    broken = target / "train-images-idx3-ubyte.gz"
    content = broken.read_bytes()
    broken.write_bytes(content[: len(content) // 2] if damage == "truncate" else b"not a gzip file at all")
    result = run_python(NO_NETWORK + "from helpers import data\ndata.load_fashion_mnist()\n", tmp_path)
    assert result.returncode != 0
    message = result.stderr[result.stderr.index("helpers.data.DatasetUnavailableError") :]
    assert "corrupt" in message and str(broken) in message and "delete" in message
    assert "t10k-images" not in message  # only the damaged file is named


def test_pipeline_batches_and_determinism():
    (x, y), _ = data.load_fashion_mnist()
    first = [b for b, _ in zip(data.fashion_mnist_pipeline(x, y, seed=3), range(3))]
    again = [b for b, _ in zip(data.fashion_mnist_pipeline(x, y, seed=3), range(3))]
    other = next(iter(data.fashion_mnist_pipeline(x, y, seed=4)))
    assert first[0][0].shape == (32, 28, 28) and first[0][1].shape == (32,)
    for (xa, ya), (xb, yb) in zip(first, again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(first[0][1], other[1])


def test_pipeline_repeats_past_the_end_of_the_data():
    x = np.zeros((5, 28, 28), np.float32)
    y = np.arange(5)
    batches = list(zip(data.fashion_mnist_pipeline(x, y, batch_size=4, shuffle_buffer=5), range(4)))
    assert all(b[0][0].shape == (4, 28, 28) for b in batches)


@pytest.mark.parametrize(
    "kwargs, error, names",
    [
        ({"x": np.zeros((4, 28, 27))}, ValueError, "x"),
        ({"x": np.zeros((4, 28))}, ValueError, "x"),
        ({"x": np.array([["a"] * 28] * 28 * 4).reshape(4, 28, 28)}, TypeError, "x"),
        ({"y": np.zeros(3)}, ValueError, "x and y"),
        ({"y": np.zeros((4, 1))}, ValueError, "y"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"shuffle_buffer": -1}, ValueError, "shuffle_buffer"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_pipeline_rejects_bad_input(kwargs, error, names):
    arguments = {"x": np.zeros((4, 28, 28)), "y": np.zeros(4)} | kwargs
    with pytest.raises(error, match=names):
        data.fashion_mnist_pipeline(**arguments)
