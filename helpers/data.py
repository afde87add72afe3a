"""Data for the lessons.

- Fashion-MNIST through Keras's own loader and cache (``keras.datasets.fashion_mnist.load_data()``), scaled to
  [0, 1], each 28x28 image a sequence of 28 time steps of 28 pixels (notebook 04).
- The article's ``tf.data`` pipeline, ``repeat().shuffle(5000).batch(32).prefetch(AUTOTUNE)`` (notebook 04); its
  order of examples, ``batch_order``, is also ``helpers.training``'s.
- ``adding_problem``: Hochreiter & Schmidhuber's adding problem, "sum" variant (notebooks 02 and 05).

Where Keras keeps the files, and what to tell a learner whose copy is missing or damaged: ``helpers.data_cache``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from helpers import checks
from helpers.data_cache import (
    FASHION_MNIST_FILES,
    DatasetUnavailableError,
    configured_cache_dir,
    explain_failure,
    has_all_files,
    keras_cache_dir,
    missing_in_folder_message,
    read_idx_files,
    writable,
)

#: Class names, in label order (Zalando's Fashion-MNIST README).
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_fashion_mnist(
    folder: str | os.PathLike | None = None, scaled: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST as ``((x_train, y_train), (x_test, y_test))``: ``x`` float32 ``(n, 28, 28)`` in [0, 1] (time,
    features), ``y`` int64 labels 0-9 (``FASHION_MNIST_CLASSES``).

    Args:
        folder: a folder holding ``FASHION_MNIST_FILES``, read as they are; default: Keras's loader, which downloads
            them (about 30 MB) into ``keras_cache_dir()`` once.
        scaled: False keeps ``x`` as the files' uint8 pixels (4 times less memory; ``scale_images`` of any part
            gives exactly the scaled values).

    Raises ``DatasetUnavailableError`` naming the files and the fix.
    """
    if not isinstance(scaled, bool):
        raise TypeError(f"scaled must be True or False, got {type(scaled).__name__} {scaled!r}")
    if folder is not None:
        if not isinstance(folder, str | os.PathLike):
            raise TypeError(
                f"folder must be a path (str or pathlib.Path) or None, got {type(folder).__name__}"
            )
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise ValueError(
                f"folder must be an existing folder holding {', '.join(FASHION_MNIST_FILES)}; {folder} is not a folder"
            )
        missing = [name for name in FASHION_MNIST_FILES if not (folder / name).is_file()]
        if missing:
            raise DatasetUnavailableError(missing_in_folder_message(folder, missing))
        return _checked(read_idx_files, folder, scaled)
    cache = configured_cache_dir()
    if has_all_files(cache) and not writable(
        cache
    ):  # Keras's loader would look in /tmp/.keras instead
        return _checked(read_idx_files, cache, scaled)
    return _checked(_keras_loader, cache, scaled)


def _keras_loader(folder: Path):
    import keras

    return keras.datasets.fashion_mnist.load_data()


def _checked(loader, folder: Path, scaled: bool):
    """``loader(folder)``'s arrays, scaled if asked, labels int64; any failure a ``DatasetUnavailableError``."""
    try:
        (x_train, y_train), (x_test, y_test) = loader(folder)
    except (
        Exception
    ) as error:  # Keras wraps urllib's errors in a bare Exception; gzip/numpy raise others
        raise DatasetUnavailableError(
            explain_failure(error, keras_cache_dir() if loader is _keras_loader else folder)
        ) from None
    scale = scale_images if scaled else np.asarray
    return (scale(x_train), y_train.astype(np.int64)), (scale(x_test), y_test.astype(np.int64))


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 ``images / 255`` (``load_fashion_mnist``'s values, without a second full-size
    temporary); floats are returned unchanged."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        if np.issubdtype(images.dtype, np.floating):
            return images
        raise TypeError(
            f"images must be uint8 pixels (or already scaled floats), got dtype {images.dtype}"
        )
    scaled = images.astype(np.float32)
    scaled /= np.float32(255.0)
    return scaled


def _article_batches(examples, batch_size: int, shuffle_buffer: int, seed: int):
    """The article's batches of ``examples`` (a ``tf.data.Dataset``), defined once."""
    return examples.repeat().shuffle(shuffle_buffer, seed=seed).batch(batch_size)


def batch_order(n: int, batch_size: int = 32, shuffle_buffer: int = 5000, seed: int = 42):
    """The article pipeline's order of ``n`` examples, an endless dataset of int64 index batches:
    ``fashion_mnist_pipeline(x, y, ...)`` yields ``(x[i], y[i])`` for them. The order depends on ``seed`` **and**
    TensorFlow's global seed (``keras.utils.set_random_seed``; ``helpers.training`` sets both to its ``data_seed``).
    """
    indices = tf.data.Dataset.from_tensor_slices(np.arange(n, dtype=np.int64))
    return _article_batches(indices, batch_size, shuffle_buffer, seed)


def fashion_mnist_pipeline(
    x: np.ndarray, y: np.ndarray, batch_size: int = 32, shuffle_buffer: int = 5000, seed: int = 42
):
    """The article's training pipeline, an endless ``tf.data.Dataset`` of float32 ``(x, y)`` batches, in
    ``batch_order``'s order: ``from_tensor_slices((x, y)).repeat().shuffle(shuffle_buffer, seed).batch(batch_size)
    .prefetch(AUTOTUNE)``. ``x``: ``(n, 28, 28)`` images, or uint8 pixels kept uint8 and scaled per batch to
    ``scale_images``'s values; ``y``: ``(n,)`` labels."""
    x, y = checks.labelled_data(x, y, classes=len(FASHION_MNIST_CLASSES), x_shape=(None, 28, 28))
    batch_size = checks.positive_int("batch_size", batch_size)
    shuffle_buffer = checks.positive_int("shuffle_buffer", shuffle_buffer)
    seed = checks.positive_int("seed", seed, minimum=0)
    pixels = x.dtype == np.uint8
    x = x if pixels else np.asarray(x, np.float32)  # no copy when x is float32 already
    examples = tf.data.Dataset.from_tensor_slices((x, np.asarray(y, np.int64)))
    dataset = _article_batches(
        examples, batch_size, shuffle_buffer, seed
    )  # the batches of batch_order's indices
    if pixels:
        dataset = dataset.map(lambda images, labels: (tf.cast(images, tf.float32) / 255.0, labels))
    return dataset.prefetch(tf.data.AUTOTUNE)


def adding_problem(
    n: int, length: int, seed: int = 0, dtype: str = "float32"
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of the adding problem, ``x`` ``(n, length, 2)`` and ``y`` ``(n, 1)``, the same for the same
    ``seed`` and ``dtype``. Each step is a pair (value uniform in [0, 1), marker): the marker is 1 at one step of
    the first half and one of the second, 0 elsewhere; the target is the **sum** of the two marked values.
    Predicting 1 gives a mean squared error of 1/6 (the baseline to beat).

    Source: Hochreiter & Schmidhuber (1997), "Long short-term memory", Neural Computation 9(8), §5.4 (Experiment 4).
    This is the simplified variant used since Le, Jaitly & Hinton (2015) and Arjovsky, Shah & Bengio (2016). The
    original differs: values in [−1, 1]; markers 1.0 for the two marked pairs, −1.0 for the first and the last pair,
    0 elsewhere; the first mark among the first ten pairs, the second among the first T/2 − 1 unmarked ones;
    random lengths between T and T + T/10; target 0.5 + (X1 + X2)/4, the sum scaled into [0, 1].
    """
    n = checks.positive_int("n", n)
    length = checks.positive_int("length", length, minimum=2)
    seed = checks.positive_int("seed", seed, minimum=0)
    checks.one_of("dtype", dtype, ("float32", "float64"))
    rng = np.random.default_rng(seed)
    values = rng.random((n, length), dtype=np.dtype(dtype))  # [0, 1) in the requested precision
    half = length // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    markers = np.zeros((n, length), dtype=dtype)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1)
    y = (x[rows, first, 0] + x[rows, second, 0])[:, None]
    return x, y


#: The full Fashion-MNIST's training and test images (an offline subset, as in the tests, holds fewer).
FASHION_MNIST_SIZES = (60_000, 10_000)


def size_note(n_train: int, n_test: int) -> str:
    """A sentence for a notebook's output: how many images it trains and tests on, and whether that is the full
    Fashion-MNIST."""
    n_train = checks.positive_int("n_train", n_train)
    n_test = checks.positive_int("n_test", n_test)
    text = f"training on {n_train:,} images, testing on {n_test:,}"
    full_train, full_test = FASHION_MNIST_SIZES
    if (n_train, n_test) == FASHION_MNIST_SIZES:
        return text + " (the full Fashion-MNIST)"
    return text + (
        f" — a subset of Fashion-MNIST's {full_train:,} + {full_test:,}: every figure below differs (and "
        "the test accuracies are less precise) on the full set"
    )
