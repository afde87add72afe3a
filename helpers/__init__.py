"""Helpers for the exploding-gradients and gradient-clipping notebooks.

One concern per module:

- ``helpers.setup``      version check and one-call seeding (every notebook's setup cell)
- ``helpers.checks``     the argument checks every public helper uses (clear ``ValueError``/``TypeError``)
- ``helpers.data``       Fashion-MNIST through the real Keras loader, the article's tf.data pipeline, the adding problem
- ``helpers.theory``     the small models of notebook 01: scalar/matrix recurrences, float32 overflow, the cliff
- ``helpers.models``     the article's LSTM and recurrent models with a chosen spectral radius (02, 04)
- ``helpers.gradients``  ‖∂L/∂h_t‖ at every time step, per-layer and global weight-gradient norms (02)
- ``helpers.clipping``   Keras's clipping rules as pure functions, per-layer clipping, AutoClip and AGC (03, 05)
- ``helpers.descent``    gradient descent on notebook 01's cliff, with and without clipping (03)
- ``helpers.training``   one instrumented training loop for several settings at once (04, 05)
- ``helpers.widgets``    figures that update in place, wired to controls (one submodule per notebook)

Importing ``helpers`` sets TensorFlow's quiet, reproducible defaults (``TF_CPP_MIN_LOG_LEVEL=2``,
``TF_ENABLE_ONEDNN_OPTS=0``) unless they are already set; it does not import TensorFlow itself.
"""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from helpers.setup import check_versions, seed_everything  # noqa: E402

__all__ = ["check_versions", "seed_everything"]
