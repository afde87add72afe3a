"""Gradient clipping rules as pure functions on a list of gradient tensors (notebook 03; used by ``helpers.training``).

Every function takes ``grads`` (a list of tensors, one per trainable variable, any shapes) and a threshold, and
returns ``(clipped, pre_clip_norm)``: a new list of the same shapes and the norm(s) measured *before* clipping.
They run eagerly or inside ``tf.function(jit_compile=True)``. Where Keras has the same rule, the arithmetic is
Keras 3's own (``keras/src/optimizers/base_optimizer.py``), so the result is identical to what the optimizer does:

=================  =====================================  ======================================================
rule               Keras optimizer argument               what it does
=================  =====================================  ======================================================
``value``          ``clipvalue=c``                        every entry into [-c, c] (direction can change)
``norm``           ``clipnorm=c``                         each tensor ``g`` to ``g·c / max(‖g‖, c)`` on its own
``global_norm``    ``global_clipnorm=c``                  all tensors by one factor ``c / max(‖g‖_global, c)``
=================  =====================================  ======================================================

Thresholds must be positive and finite here; note that Keras itself *silently disables* clipping when the
argument is 0 (its test is ``if self.clipnorm and self.clipnorm > 0``).

Non-finite gradients (exactly as Keras): ``value`` maps ±inf to ±c and keeps NaN; ``norm`` turns a tensor with an
infinite entry into NaN where the entry was inf and 0 elsewhere, and keeps NaN; ``global_norm`` turns *every* entry of
*every* tensor into NaN as soon as the global norm is inf or NaN (as ``tf.clip_by_global_norm`` does).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from helpers import checks

#: The clipping rules ``clip`` knows, by name ("none" leaves the gradients alone).
MODES = ("none", "value", "norm", "global_norm")
#: The Keras optimizer argument that applies each rule.
KERAS_ARGUMENT = {"value": "clipvalue", "norm": "clipnorm", "global_norm": "global_clipnorm"}


def _check_grads(grads) -> list:
    if isinstance(grads, tf.Tensor | tf.Variable) or not isinstance(grads, Sequence):
        raise TypeError(f"grads must be a list of tensors (one per variable), got {type(grads).__name__}")
    if len(grads) == 0:
        raise ValueError("grads must hold at least one tensor, got an empty list")
    return [tf.convert_to_tensor(g) for g in grads]


def _threshold(threshold, dtype):
    """A Python number is checked (positive, finite); a tensor is taken as it is (so a compiled loop can vary it)."""
    if not isinstance(threshold, tf.Tensor | tf.Variable):
        threshold = checks.positive("threshold", threshold)
    return tf.cast(threshold, dtype)


def tensor_norms(grads) -> tf.Tensor:
    """The L2 norm of each tensor, shape ``(len(grads),)``."""
    grads = _check_grads(grads)
    return tf.stack([tf.sqrt(tf.reduce_sum(tf.square(g))) for g in grads])


def global_norm(grads) -> tf.Tensor:
    """The L2 norm of all tensors together, sqrt(Σ ‖g_i‖²), a scalar (Keras's and PyTorch's "total norm")."""
    grads = _check_grads(grads)
    return tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads]))


def clip_by_value(grads, threshold) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Keras ``clipvalue``: every entry clipped into [-threshold, threshold]. Returns ``(clipped, global_norm)``."""
    grads = _check_grads(grads)
    c = _threshold(threshold, grads[0].dtype)
    return [tf.clip_by_value(g, -c, c) for g in grads], global_norm(grads)


def clip_by_norm(grads, threshold) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Keras ``clipnorm``: each tensor rescaled on its own to norm at most ``threshold``.
    Returns ``(clipped, norms)`` with ``norms`` the pre-clip norm of each tensor, shape ``(len(grads),)``."""
    grads = _check_grads(grads)
    c = _threshold(threshold, grads[0].dtype)
    clipped = []
    for g in grads:
        # Keras's arithmetic: g·c / max(‖g‖, c), with its guard for all-zero tensors.
        l2sum = tf.reduce_sum(tf.square(g))
        positive = l2sum > 0
        l2norm = tf.where(positive, tf.sqrt(tf.where(positive, l2sum, tf.ones_like(l2sum))), l2sum)
        clipped.append(g * c / tf.maximum(l2norm, c))
    return clipped, tensor_norms(grads)


def clip_by_global_norm(grads, threshold) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Keras ``global_clipnorm`` (Pascanu et al. 2013, Algorithm 1): if the global norm exceeds ``threshold``, every
    tensor is scaled by ``threshold / global_norm``. Returns ``(clipped, global_norm)``."""
    grads = _check_grads(grads)
    c = _threshold(threshold, grads[0].dtype)
    norm = global_norm(grads)
    scale = c * tf.minimum(1.0 / norm, 1.0 / c) + (norm - norm)  # Keras: NaN scale when the norm is inf/NaN
    return [g * scale for g in grads], norm


def clip(grads, mode: str, threshold=None) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Apply the rule named ``mode`` (one of ``MODES``). Returns ``(clipped, pre_clip_global_norm)``.

    ``mode="none"`` returns the gradients unchanged and takes no threshold; every other mode needs one.
    """
    checks.one_of("mode", mode, MODES)
    if mode == "none":
        if threshold is not None:
            raise ValueError(f"threshold must be None when mode='none', got {threshold!r}")
        return _check_grads(grads), global_norm(grads)
    if threshold is None:
        raise ValueError(f"threshold is required for mode={mode!r}: a positive finite number")
    if mode == "value":
        return clip_by_value(grads, threshold)
    if mode == "norm":
        clipped, _ = clip_by_norm(grads, threshold)
        return clipped, global_norm(grads)
    return clip_by_global_norm(grads, threshold)
