"""The setup cell of every notebook: version check (warns, never fails) and one seed for everything."""

from __future__ import annotations

import os
import sys
import warnings

from helpers import checks

#: Versions the notebooks were written and tested with (requirements.txt pins exactly these).
TESTED = {"python": "3.11", "tensorflow": "2.21", "keras": "3.15"}


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def check_versions() -> dict[str, str]:
    """Return the versions in use; warn (do not fail) where one differs from what was tested."""
    import keras
    import tensorflow as tf

    found = {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    for name, version in found.items():
        if _major_minor(version) != TESTED[name]:
            warnings.warn(
                f"{name} {version} is installed; these notebooks were tested with {TESTED[name]}. "
                "They will probably work, but numbers may differ. "
                "`pip install -r requirements.txt` installs the tested versions.",
                stacklevel=2,
            )
    return found


def seed_everything(seed: int = 42) -> int:
    """Seed Python, NumPy, TensorFlow and Keras with one number (``keras.utils.set_random_seed``),
    and ask TensorFlow for deterministic kernels, so the same seed gives the same numbers."""
    seed = checks.positive_int("seed", seed, minimum=0)
    import keras
    import tensorflow as tf

    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return seed
