"""The setup cell of every notebook: version check (warns, never fails) and one seed for everything."""

from __future__ import annotations

import sys
import warnings

from helpers import checks

#: Versions the notebooks were tested with (requirements.txt pins these releases).
TESTED = {"tensorflow": "2.21", "keras": "3.15"}
#: The Python versions the pinned packages have wheels for.
SUPPORTED_PYTHON = ((3, 11), (3, 12), (3, 13))


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def python_advice(version: tuple[int, ...]) -> str | None:
    """None for a supported Python ``(major, minor, ...)``, else how to make a virtualenv with a supported one."""
    if tuple(version[:2]) in SUPPORTED_PYTHON:
        return None
    names = [f"{major}.{minor}" for major, minor in SUPPORTED_PYTHON]
    supported = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
    found = ".".join(str(part) for part in version[:3])
    return (
        f"Python {found} is not supported: these notebooks need Python {supported} (TensorFlow 2.21 and the pinned "
        "packages have no wheels for other versions). Installing packages cannot change the Python of this "
        "environment: make a new virtualenv with a supported Python, install into it and start JupyterLab from it:\n"
        "    Linux/macOS:          python3.11 -m venv --clear .venv && . .venv/bin/activate\n"
        "    Windows (PowerShell): py -3.11 -m venv --clear .venv; .venv\\Scripts\\Activate.ps1\n"
        "    then:                 pip install -r requirements.txt && jupyter lab\n"
        "(no python3.11? install it from https://www.python.org/downloads/ or your package manager)"
    )


def check_versions() -> dict[str, str]:
    """The versions in use; warns (never fails) on an unsupported Python or an untested TensorFlow or Keras."""
    import keras  # here, not at the top: ``import helpers`` stays light (it imports this module)
    import tensorflow as tf

    found = {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    advice = python_advice(tuple(sys.version_info[:3]))
    if advice:
        warnings.warn(advice, stacklevel=2)
    for name in TESTED:
        if _major_minor(found[name]) != TESTED[name]:
            warnings.warn(
                f"{name} {found[name]} is installed; these notebooks were tested with {TESTED[name]}. "
                "They will probably work, but numbers may differ. In this notebook's environment, "
                "`pip install -r requirements.txt` installs the tested versions (then restart the kernel).",
                stacklevel=2,
            )
    return found


def seed_everything(seed: int = 42) -> int:
    """Seed Python, NumPy, TensorFlow and Keras with one number and ask TensorFlow for deterministic kernels, so the
    same seed gives the same numbers (``PYTHONHASHSEED`` only counts when set before Python starts)."""
    seed = checks.positive_int("seed", seed, minimum=0)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return seed
