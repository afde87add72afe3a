"""Where Keras keeps Fashion-MNIST, and what is wrong with a cached copy that does not load (``helpers.data``'s
``load_fashion_mnist`` raises ``DatasetUnavailableError`` with one of these messages: files missing and no network,
a corrupt file, or images and labels that do not belong together; each names the files and the fix).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

#: The four files Keras's loader reads, in its cache sub-folder ``datasets/fashion-mnist``.
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class DatasetUnavailableError(RuntimeError):
    """Fashion-MNIST's files are missing and cannot be downloaded, damaged, or do not belong together."""


def configured_cache_dir() -> Path:
    """``<keras home>/datasets/fashion-mnist`` where the keras home is the one Keras read at import (``KERAS_HOME``,
    default ``~/.keras``), before Keras's fallback to ``/tmp/.keras`` for a folder it cannot write."""
    try:
        from keras.src.backend.config import keras_home  # the loader's own (private) accessor

        home = keras_home()
    except ImportError:  # pragma: no cover - a Keras without it: same rule, read now
        home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return Path(os.path.expanduser(home)) / "datasets" / "fashion-mnist"


def has_all_files(folder: Path) -> bool:
    """Whether ``folder`` holds the four ``FASHION_MNIST_FILES``."""
    return all((folder / name).is_file() for name in FASHION_MNIST_FILES)


def writable(folder: Path) -> bool:
    """Keras's test (``keras.utils.get_file``): can the keras home, two levels above ``folder``, be written?"""
    return os.access(folder.parent.parent, os.W_OK)


def keras_cache_dir() -> Path:
    """The folder Fashion-MNIST is really read from: ``<keras home>/datasets/fashion-mnist`` (``KERAS_HOME`` as
    Keras read it at import) if it holds the four files, even read-only, or can be written; else Keras's fallback
    under ``/tmp/.keras``."""
    folder = configured_cache_dir()
    if has_all_files(folder) or writable(folder):
        return folder
    return Path("/tmp") / ".keras" / "datasets" / "fashion-mnist"


def read_idx_files(folder: Path):
    """What ``keras.datasets.fashion_mnist.load_data()`` returns, read from ``folder`` with the same code (uint8)."""

    def read(name: str, offset: int) -> np.ndarray:
        with gzip.open(folder / name, "rb") as handle:
            return np.frombuffer(handle.read(), np.uint8, offset=offset)

    splits = []
    for split in ("train", "t10k"):
        labels = read(f"{split}-labels-idx1-ubyte.gz", 8)
        splits.append(
            (read(f"{split}-images-idx3-ubyte.gz", 16).reshape(len(labels), 28, 28), labels)
        )
    return tuple(splits)


#: The first 4 bytes of an IDX file (big-endian): 2049 for labels, 2051 for images (LeCun's MNIST format).
_IDX_MAGIC = {"labels": 2049, "images": 2051}


def corrupt_cache_files(folder: str | os.PathLike | None = None) -> dict[str, str]:
    """``{path: reason}`` for the files in ``folder`` (default ``keras_cache_dir()``) that are not gzipped IDX."""
    folder = keras_cache_dir() if folder is None else Path(folder)
    bad = {}
    for name in FASHION_MNIST_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            with gzip.open(path, "rb") as handle:
                payload = handle.read()
        except (OSError, EOFError, zlib.error) as error:
            bad[str(path)] = f"not a readable gzip file ({error})"
            continue
        kind = "images" if "images" in name else "labels"
        header = 16 if kind == "images" else 8
        magic, count = (
            (int.from_bytes(payload[i : i + 4], "big") for i in (0, 4))
            if len(payload) >= 8
            else (0, 0)
        )
        expected = header + count * (28 * 28 if kind == "images" else 1)
        if magic != _IDX_MAGIC[kind] or len(payload) != expected:
            bad[str(path)] = (
                f"not a complete IDX {kind} file ({len(payload)} bytes after unpacking)"
            )
    return bad


def mismatched_files(folder: str | os.PathLike | None = None) -> dict[str, int]:
    """``{path: count}`` for both files of each split whose images and labels counts differ (``{}`` if a file is
    missing)."""
    folder = keras_cache_dir() if folder is None else Path(folder)
    counts = {}
    for name in FASHION_MNIST_FILES:
        try:
            with gzip.open(folder / name, "rb") as handle:
                counts[name] = int.from_bytes(handle.read(8)[4:8], "big")
        except (OSError, EOFError, zlib.error):
            return {}
    bad = {}
    for split in ("train", "t10k"):
        images, labels = f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"
        if counts[images] != counts[labels]:
            bad[str(folder / images)] = counts[images]
            bad[str(folder / labels)] = counts[labels]
    return bad


def explain_failure(error: Exception, folder: Path) -> str:
    """Why loading from ``folder`` failed with ``error``, and the fix: a corrupt file, a mismatched pair, or files
    missing with no download."""
    corrupt = corrupt_cache_files(folder)
    if corrupt:
        return _corrupt_message(corrupt)
    mismatched = mismatched_files(folder)
    return _mismatch_message(mismatched) if mismatched else _unavailable_message(error)


def _corrupt_message(corrupt: dict[str, str]) -> str:
    files = "\n".join(f"  {path}: {reason}" for path, reason in corrupt.items())
    return (
        f"Fashion-MNIST could not be loaded: a cached file is corrupt (an interrupted download?).\n{files}\n"
        "Fix: delete the file(s) named above and run again with internet access, so Keras downloads them anew, "
        "or replace them with good copies (https://github.com/zalandoresearch/fashion-mnist)."
    )


def _mismatch_message(mismatched: dict[str, int]) -> str:
    files = "\n".join(
        f"  {path}: {count:,} {'images' if 'images' in path else 'labels'}"
        for path, count in mismatched.items()
    )
    return (
        "Fashion-MNIST could not be loaded: each file is valid, but the images and labels files below do not belong "
        f"together (their counts differ; one was probably copied from another split or another download).\n{files}\n"
        "Fix: copy all four files again from one source, keeping their names "
        f"({', '.join(FASHION_MNIST_FILES)}), or delete them and run again with internet access, so Keras downloads "
        "a matching set."
    )


def missing_in_folder_message(folder: Path, missing: list[str]) -> str:
    return (
        f"Fashion-MNIST could not be loaded from {folder}: it does not hold {', '.join(missing)}.\n"
        f"Fix: copy the four files {', '.join(FASHION_MNIST_FILES)} into that folder (from a machine where "
        "`keras.datasets.fashion_mnist.load_data()` ran: they are in ~/.keras/datasets/fashion-mnist; or from "
        "https://github.com/zalandoresearch/fashion-mnist), or call load_fashion_mnist() without folder to use "
        "Keras's cache and its download."
    )


def _unavailable_message(error: Exception) -> str:
    folder = keras_cache_dir()
    present = [name for name in FASHION_MNIST_FILES if (folder / name).is_file()]
    missing = [name for name in FASHION_MNIST_FILES if name not in present]
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    configured = configured_cache_dir()
    read_only = (
        f"  Note:            {configured.parent.parent} is not writable, so Keras uses {folder} instead.\n"
        if configured != folder
        else ""
    )
    return (
        "Fashion-MNIST could not be loaded: it is not (completely) in the Keras cache and downloading it failed.\n"
        f"  Expected folder: {folder}\n"
        f"{read_only}"
        f"  Missing files:   {', '.join(missing) if missing else 'none (a cached file may be corrupt: delete it)'}\n"
        f"  Download error:  {reason}\n"
        "Fix: connect to the internet once and run\n"
        '    python -c "import keras; keras.datasets.fashion_mnist.load_data()"\n'
        "which caches the files for offline use, or copy the four files\n"
        f"    {', '.join(FASHION_MNIST_FILES)}\n"
        "(from https://github.com/zalandoresearch/fashion-mnist) into that folder, or set KERAS_HOME to a folder "
        "that holds datasets/fashion-mnist/ with them."
    )
