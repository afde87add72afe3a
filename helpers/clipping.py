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
per layer          (none: ``clip_per_layer``)             each layer's tensors by that layer's joint norm
=================  =====================================  ======================================================

Thresholds given as Python/NumPy numbers must be positive and finite (``ValueError`` naming ``threshold``
otherwise, ``TypeError`` for non-numbers); a ``tf.Tensor`` threshold is taken as it is, so a compiled loop can vary
it. Keras itself *silently disables* clipping when the argument is 0 (its test is ``if self.clipnorm and
self.clipnorm > 0``): ``SGD(clipnorm=0)`` trains unclipped without a word.

Non-finite gradients (exactly as Keras; tested in ``tests/test_clipping.py``):

- ``value``: ±inf becomes ±c, NaN stays NaN; the other entries are clipped as usual.
- ``norm``: a tensor holding a NaN becomes NaN everywhere; a tensor holding ±inf (and no NaN) becomes NaN where the
  entry was infinite and ±0 elsewhere; the other tensors are clipped as usual.
- ``global_norm`` (and each layer of ``clip_per_layer``): as soon as the (layer's) norm is inf or NaN, *every* entry
  of *every* tensor in it becomes NaN, as ``tf.clip_by_global_norm`` does.

In every case the returned pre-clip norm is inf or NaN, which is what a training loop should test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
        # straight to the gradients' dtype: tf.cast of a Python float would round it to float32 first
        return tf.constant(checks.positive("threshold", threshold), dtype)
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


def layer_groups(model) -> dict[str, list[int]]:
    """Which gradients belong to which layer: ``{layer name: indices into model.trainable_variables}``.

    Layers come in ``model.layers`` order; layers without trainable variables are left out. A nested model counts
    as one layer. Variables that belong to no layer (rare) are grouped under the model's own name.
    The result is the ``groups`` argument of ``clip_per_layer`` (notebook 03).
    """
    if not hasattr(model, "layers") or not hasattr(model, "trainable_variables"):
        raise TypeError(
            f"model must be a Keras model (with .layers and .trainable_variables), got {type(model).__name__}"
        )
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    groups: dict[str, list[int]] = {}
    seen: set[int] = set()
    for layer in model.layers:
        indices = [position[id(v)] for v in layer.trainable_variables if id(v) in position and id(v) not in seen]
        if indices:
            groups[layer.name] = indices
            seen.update(indices)
    rest = [i for i in range(len(position)) if i not in seen]
    if rest:
        groups.setdefault(model.name, []).extend(rest)
    if not groups:
        raise ValueError(f"model {model.name!r} has no trainable variables (build it first, e.g. by calling it once)")
    return groups


def _check_groups(groups, count: int) -> dict[str, list[int]]:
    if not isinstance(groups, Mapping):
        raise TypeError(f"groups must be a mapping {{layer name: [gradient indices]}}, got {type(groups).__name__}")
    checked: dict[str, list[int]] = {}
    owner: dict[int, str] = {}
    for name, indices in groups.items():
        if isinstance(indices, str | bytes) or not isinstance(indices, Sequence):
            raise TypeError(f"groups[{name!r}] must be a list of gradient indices, got {type(indices).__name__}")
        if len(indices) == 0:
            raise ValueError(f"groups[{name!r}] is empty: every group needs at least one gradient index")
        for index in indices:
            checks.positive_int(f"groups[{name!r}] index", index, minimum=0)
            if index >= count:
                raise ValueError(f"groups[{name!r}] holds index {index}, but there are only {count} gradients")
            if index in owner:
                raise ValueError(f"gradient {index} is in two groups, {owner[index]!r} and {name!r}")
            owner[index] = name
        checked[name] = list(indices)
    missing = [i for i in range(count) if i not in owner]
    if missing:
        raise ValueError(f"groups must cover every gradient; indices {missing} are in no group")
    return checked


def clip_per_layer(grads, groups, thresholds) -> tuple[list[tf.Tensor], dict[str, tf.Tensor]]:
    """Clip each layer's gradients by that layer's joint norm: ``Algorithm 1`` of Pascanu et al. applied per layer.

    ``groups``: ``{layer name: [indices into grads]}`` covering every gradient once (``layer_groups(model)`` builds
    it). ``thresholds``: one threshold for every layer, or ``{layer name: threshold}`` with exactly the keys of
    ``groups``; a threshold of ``None`` leaves that layer unclipped. Within a layer the arithmetic is Keras's
    ``global_clipnorm``: every tensor of the layer is scaled by ``c / max(‖g_layer‖, c)``.

    Returns ``(clipped, norms)``: the clipped list in the order of ``grads`` and ``{layer name: pre-clip norm}``
    (scalar tensors). Keras has no per-layer argument; use it in a custom training step (notebook 03).
    """
    grads = _check_grads(grads)
    groups = _check_groups(groups, len(grads))
    if isinstance(thresholds, Mapping):
        extra = sorted(set(thresholds) - set(groups))
        missing = [name for name in groups if name not in thresholds]
        if extra or missing:
            raise ValueError(
                f"thresholds must have one entry per layer in groups ({', '.join(map(repr, groups))}); "
                f"missing {missing}, unknown {extra}"
            )
        per_layer = dict(thresholds)
    else:
        per_layer = dict.fromkeys(groups, thresholds)
    clipped = list(grads)
    norms: dict[str, tf.Tensor] = {}
    for name, indices in groups.items():
        layer = [grads[i] for i in indices]
        norms[name] = global_norm(layer)
        threshold = per_layer[name]
        if threshold is None:
            continue
        if not isinstance(threshold, tf.Tensor | tf.Variable):
            threshold = checks.positive(f"thresholds[{name!r}]", threshold)
        layer_clipped, _ = clip_by_global_norm(layer, threshold)
        for i, g in zip(indices, layer_clipped, strict=True):
            clipped[i] = g
    return clipped, norms
