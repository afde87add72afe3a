"""Helpers for the exploding-gradients and gradient-clipping notebooks.

One concern per module:

- ``helpers.setup``         version check and one-call seeding (every notebook's setup cell)
- ``helpers.session``       the session's memory where a container limits it (every notebook's setup cell)
- ``helpers.checks``        the argument checks every public helper uses (clear ``ValueError``/``TypeError``)
- ``helpers.data``          Fashion-MNIST (the real Keras loader), the article's tf.data pipeline, the adding problem
- ``helpers.data_cache``    where Keras keeps Fashion-MNIST; what is wrong with a copy that does not load
- ``helpers.theory``        the small models of notebook 01: scalar/matrix recurrences, the cliff
- ``helpers.models``        the article's LSTM and recurrent models with a chosen spectral radius (02, 04)
- ``helpers.gradients``     ‖∂L/∂h_t‖ at every time step of a recurrent layer (02)
- ``helpers.clipping``      Keras's clipping rules as pure functions, per-layer clipping, AutoClip and AGC (03, 05)
- ``helpers.descent``       gradient descent on notebook 01's cliff, with and without clipping (03)
- ``helpers.training``      one instrumented training loop for several settings at once (04, 05)
- ``helpers.sweeps``        learning-rate sweeps over seeds: each method at its own best learning rate (04, 05)
- ``helpers.engines``       the trainer's engines: K copies of a model as one batched computation, or in turn
- ``helpers.lab_trainer``   the cached, last-move-wins runs behind notebook 04's clipping lab
- ``helpers.plots``         the static figures of training runs over seeds (04, 05)
- ``helpers.figures``       ``helpers.show(fig, alt=...)``: a figure with its description (every notebook); the palette
- ``helpers.fit_clipping``  clipping for ``model.fit`` after aggregation, its log, multi-replica loss scaling (06)
- ``helpers.answers``       worked answers that stay folded after *Run All*
- ``helpers.exercises``     the exercises' checks and hints, computed from each notebook's own state (01-06)
- ``helpers.student_copy``  a copy of the notebooks without the solutions, for teachers
- ``helpers.widgets``       figures that update in place, wired to controls (one submodule per notebook)

Importing ``helpers`` does not import TensorFlow and sets no environment variable: TensorFlow reads
``TF_CPP_MIN_LOG_LEVEL`` and ``TF_ENABLE_ONEDNN_OPTS`` when first imported, so every setup cell sets them first. It
makes ``helpers.figures.PALETTE`` (safe for colour-vision deficiencies) matplotlib's colour cycle.
"""

from helpers.figures import show
from helpers.setup import check_versions, seed_everything

__all__ = ["check_versions", "seed_everything", "show"]
