"""helpers.data: the real Keras loader through KERAS_HOME, a read-only folder read without writing, the clear offline,
corrupt and mismatched-files errors, the article's pipeline.

The source of the test data is ``data_cache.keras_cache_dir()`` (conftest.py's temporary KERAS_HOME): nothing here needs
KERAS_HOME to be set by the user or ``../shared`` to exist.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import data, data_cache


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
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )


def test_cache_dir_follows_keras_home(tmp_path):
    result = run_python(
        "from helpers import data_cache; print(data_cache.keras_cache_dir())", tmp_path
    )
    assert result.stdout.strip() == str(tmp_path / "datasets" / "fashion-mnist"), result.stderr


def test_no_network_and_no_cache_gives_one_clear_error(tmp_path):
    result = run_python(
        NO_NETWORK + "from helpers import data\ndata.load_fashion_mnist()\n", tmp_path
    )
    assert result.returncode != 0
    error = result.stderr
    assert (
        error.count("Traceback") == 1 and "urllib" not in error.split("DatasetUnavailableError")[0]
    )
    message = error[error.index("helpers.data_cache.DatasetUnavailableError") :]
    assert str(tmp_path / "datasets" / "fashion-mnist") in message
    for name in data_cache.FASHION_MNIST_FILES:
        assert name in message
    assert "keras.datasets.fashion_mnist.load_data()" in message and "KERAS_HOME" in message
    assert "network disabled by the test" in message  # the reason, in one line


def copy_dataset(target: Path) -> Path:
    """The four files of the session's cache copied (content only, writable) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in data_cache.FASHION_MNIST_FILES:
        shutil.copyfile(data_cache.keras_cache_dir() / name, target / name)
    return target


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder`` with its size and modification time (ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def make_read_only(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def make_writable(folder: Path) -> None:  # so that tmp_path can be cleaned up by a non-root user
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_folder_argument_reads_a_read_only_folder_without_writing(tmp_path):
    folder = copy_dataset(tmp_path / "classroom")
    make_read_only(folder)
    keras_home = data_cache.keras_cache_dir().parent.parent
    before, keras_before = snapshot(folder), snapshot(keras_home)
    try:
        (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(folder=folder)
        (kx_train, ky_train), (kx_test, ky_test) = (
            data.load_fashion_mnist()
        )  # Keras's loader on the same files
    finally:
        after, keras_after = snapshot(folder), snapshot(keras_home)
        make_writable(folder)
    assert after == before and keras_after == keras_before, "nothing may be written or downloaded"
    for mine, keras_s in (
        (x_train, kx_train),
        (y_train, ky_train),
        (x_test, kx_test),
        (y_test, ky_test),
    ):
        assert mine.dtype == keras_s.dtype and mine.shape == keras_s.shape
        np.testing.assert_array_equal(mine, keras_s)


# A read-only KERAS_HOME, in a fresh interpreter (Keras reads KERAS_HOME at import). chmod does not stop root, and
# Keras decides with os.access: as root, os.access is made to answer as it would for any other user (no write
# permission on a read-only folder). Every call of Keras's downloader is counted: it would fall back to /tmp/.keras.
READ_ONLY_SESSION = """
import json, os, sys
from pathlib import Path

if os.geteuid() == 0:
    real_access = os.access

    def access(path, mode, **kwargs):
        if mode & os.W_OK and os.path.exists(path) and not os.stat(path).st_mode & 0o222:
            return False
        return real_access(path, mode, **kwargs)

    os.access = access

import keras
import keras.src.datasets.fashion_mnist as loader

calls = []
real_get_file = loader.get_file
loader.get_file = lambda *args, **kwargs: calls.append(args) or real_get_file(*args, **kwargs)
home = Path(os.environ["KERAS_HOME"])


def snapshot():
    return {str(p): [p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(home.rglob("*"))}


before = snapshot()  # after Keras's import, which may write keras.json (it cannot, unless root)
from helpers import data, data_cache

(x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
print(json.dumps({"unchanged": snapshot() == before, "downloader_calls": len(calls),
                  "folder": str(data_cache.keras_cache_dir()), "shapes": [x_train.shape, x_test.shape],
                  "dtypes": [str(x_train.dtype), str(y_train.dtype)]}))
"""


def test_read_only_keras_home_with_the_files_loads_without_writing(tmp_path):
    import json

    folder = copy_dataset(tmp_path / "datasets" / "fashion-mnist")
    (tmp_path / "keras.json").write_text(
        '{"floatx": "float32"}'
    )  # as a first run leaves it (Keras writes it)
    make_read_only(tmp_path)
    try:
        result = run_python(NO_NETWORK + READ_ONLY_SESSION, tmp_path)
    finally:
        make_writable(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["unchanged"] and report["downloader_calls"] == 0
    assert report["folder"] == str(folder) and report["dtypes"] == ["float32", "int64"]
    (x_train, _), (x_test, _) = data.load_fashion_mnist()
    assert report["shapes"] == [list(x_train.shape), list(x_test.shape)]


@pytest.mark.parametrize("how", ["folder", "KERAS_HOME"])
def test_files_that_do_not_belong_together_are_named_with_the_real_fix(tmp_path, how):
    folder = copy_dataset(tmp_path / "datasets" / "fashion-mnist")
    shutil.copyfile(
        folder / "train-labels-idx1-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    )  # a valid file
    assert not data_cache.corrupt_cache_files(folder)
    if how == "folder":
        with pytest.raises(data.DatasetUnavailableError) as caught:
            data.load_fashion_mnist(folder=folder)
        message = str(caught.value)
    else:
        result = run_python(
            NO_NETWORK + "from helpers import data\ndata.load_fashion_mnist()\n", tmp_path
        )
        assert result.returncode != 0 and result.stderr.count("Traceback") == 1
        message = result.stderr[result.stderr.index("helpers.data_cache.DatasetUnavailableError") :]
    (x_train, _), (x_test, _) = data.load_fashion_mnist()
    assert (
        str(folder / "t10k-labels-idx1-ubyte.gz") in message
        and str(folder / "t10k-images-idx3-ubyte.gz") in message
    )
    assert f"{len(x_train):,} labels" in message and f"{len(x_test):,} images" in message
    assert (
        "do not belong together" in message
        and "copy all four files again" in message
        and "delete" in message
    )
    assert (
        "train-images-idx3-ubyte.gz:" not in message
    )  # the train split matches: not named as a culprit
    assert "internet once" not in message and "Download error" not in message


def test_folder_argument_missing_files_and_bad_values(tmp_path):
    folder = copy_dataset(tmp_path / "partial")
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(data.DatasetUnavailableError, match="t10k-images-idx3-ubyte.gz") as caught:
        data.load_fashion_mnist(folder=folder)
    assert (
        str(folder) in str(caught.value) and "train-images" not in str(caught.value).split("\n")[0]
    )
    with pytest.raises(ValueError, match="folder"):
        data.load_fashion_mnist(folder=tmp_path / "no such folder")
    with pytest.raises(TypeError, match="folder"):
        data.load_fashion_mnist(folder=3)


def test_scaling_gives_the_same_float32_values_as_before():
    every_byte = np.arange(256, dtype=np.uint8).repeat(28 * 28).reshape(256, 28, 28)
    np.testing.assert_array_equal(
        data.scale_images(every_byte), every_byte.astype(np.float32) / 255.0
    )
    assert data.scale_images(every_byte).dtype == np.float32


def test_unscaled_pixels_scale_to_exactly_the_loaded_values_part_by_part():
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    (p_train, q_train), (p_test, q_test) = data.load_fashion_mnist(scaled=False)
    assert (
        p_train.dtype == np.uint8
        and p_train.shape == x_train.shape
        and p_test.shape == x_test.shape
    )
    np.testing.assert_array_equal(q_train, y_train)
    np.testing.assert_array_equal(q_test, y_test)
    batch = np.random.default_rng(0).integers(
        0, len(p_train), size=(3, 32)
    )  # a gathered chunk, as the trainer does
    np.testing.assert_array_equal(data.scale_images(p_train[batch]), x_train[batch])
    np.testing.assert_array_equal(data.scale_images(p_test), x_test)
    assert data.scale_images(x_test) is x_test  # already scaled: unchanged
    with pytest.raises(TypeError, match="images"):
        data.scale_images(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="scaled"):
        data.load_fashion_mnist(scaled="no")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_cached_file_is_named_with_the_fix(tmp_path, damage):
    target = copy_dataset(tmp_path / "datasets" / "fashion-mnist")
    broken = target / "train-images-idx3-ubyte.gz"
    content = broken.read_bytes()
    broken.write_bytes(
        content[: len(content) // 2] if damage == "truncate" else b"not a gzip file at all"
    )
    result = run_python(
        NO_NETWORK + "from helpers import data\ndata.load_fashion_mnist()\n", tmp_path
    )
    assert result.returncode != 0
    message = result.stderr[result.stderr.index("helpers.data_cache.DatasetUnavailableError") :]
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


def test_pipeline_on_uint8_pixels_gives_the_same_batches_bit_for_bit():
    (x, y), _ = data.load_fashion_mnist()
    (pixels, _), _ = data.load_fashion_mnist(scaled=False)
    every_byte = (
        np.arange(256, dtype=np.uint8).repeat(28 * 28).reshape(256, 28, 28)
    )  # every pixel value
    for images, labels in ((x, y), (data.scale_images(every_byte), np.arange(256) % 10)):
        raw = pixels if images is x else every_byte
        scaled = [b for b, _ in zip(data.fashion_mnist_pipeline(images, labels, seed=5), range(12))]
        from_pixels = [
            b for b, _ in zip(data.fashion_mnist_pipeline(raw, labels, seed=5), range(12))
        ]
        for (xa, ya), (xb, yb) in zip(scaled, from_pixels):
            assert xb.dtype == xa.dtype == np.float32
            np.testing.assert_array_equal(xa.numpy(), xb.numpy())
            np.testing.assert_array_equal(ya.numpy(), yb.numpy())


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
