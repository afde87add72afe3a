"""Helpers for the exploding-gradients and gradient-clipping notebooks.

One concern per module:

- ``helpers.data``       Fashion-MNIST through the real Keras loader, the article's tf.data pipeline (notebook 04)
- ``helpers.theory``     the small models of notebook 01: scalar/matrix recurrences, float32 overflow, the cliff
- ``helpers.widgets``    figures that update in place, wired to controls (one submodule per notebook)

Importing ``helpers`` sets TensorFlow's quiet, reproducible defaults (``TF_CPP_MIN_LOG_LEVEL=2``,
``TF_ENABLE_ONEDNN_OPTS=0``) unless they are already set; it does not import TensorFlow itself.
"""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from helpers.setup import check_versions, seed_everything  # noqa: E402

__all__ = ["check_versions", "seed_everything"]
