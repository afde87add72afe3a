"""Gradient clipping rules as pure functions on a list of gradient tensors (notebooks 03 and 05, ``helpers.training``).

The words, as the whole package uses them:

- **mode**: a rule's name: ``"none"``, ``"value"``, ``"norm"``, ``"global_norm"`` (``MODES``, the modes of ``clip``),
  ``"autoclip"``, ``"agc"``;
- **rule**: what implements a mode (``clip``'s branches, ``AutoClip``, ``agc``; for a training loop, ``ClipRule``);
- **threshold**: a rule's one positive parameter: the bound ``c`` for value/norm/global_norm, the percentile ``p``
  for AutoClip, the factor ``λ`` for AGC.

Every rule takes ``grads`` (one tensor per trainable variable) and its threshold and returns
``(clipped, pre_clip_norm)``, eagerly or inside ``tf.function(jit_compile=True)``. Where Keras has the rule, the
arithmetic is Keras 3's own (``keras/src/optimizers/base_optimizer.py``), so the result is what the optimizer does:

- ``value`` (Keras ``clipvalue=c``): every entry into [-c, c] (the direction can change);
- ``norm`` (``clipnorm=c``): each tensor ``g`` on its own to ``g·c / max(‖g‖, c)``;
- ``global_norm`` (``global_clipnorm=c``): all tensors by one factor ``c / max(‖g‖_global, c)``;
- ``clip_per_layer`` (no Keras argument): each layer's tensors by that layer's joint norm.

A Python/NumPy threshold must be positive and finite; a ``tf.Tensor`` is taken as it is (a compiled loop can vary it).
Keras itself *silently disables* clipping at 0: ``SGD(clipnorm=0)`` trains unclipped.

Non-finite gradients, exactly as in Keras: ``value`` sends ±inf to ±c and keeps NaN; ``norm`` makes a tensor holding a
NaN all NaN, and one holding ±inf (no NaN) NaN where infinite and ±0 elsewhere; ``global_norm`` (and each layer of
``clip_per_layer``) makes *every* entry NaN once the norm is inf or NaN, as ``tf.clip_by_global_norm`` does. The
pre-clip norm is then inf or NaN, which is what a training loop should test.

Adaptive rules (notebook 05):

- **AutoClip** (Seetharaman et al. 2020, arXiv:2007.14469): ``clip_by_global_norm`` at the ``p``-th percentile of
  all pre-clip global norms so far, step t's own included, as the reference does (github.com/pseeth/autoclip
  ``autoclip.py``: append, then ``np.percentile``, "linear"; it scales by ``max_norm / (norm + 1e-6)``; the paper
  suggests ``p = 10``). A non-finite norm is not recorded; its step becomes NaN as above.
- **AGC** (Brock et al. 2021, NFNets, arXiv:2102.06171, §4): ``agc`` rescales, unit by unit, the gradients that are
  large relative to their weights. Non-finite units behave as per-unit ``clipnorm``; a NaN *weight* makes its unit's
  gradient NaN, an infinite weight leaves it unclipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from helpers import checks

#: The modes of ``clip``.
MODES = ("none", "value", "norm", "global_norm")
#: The Keras optimizer argument that applies each mode.
KERAS_ARGUMENT = {"value": "clipvalue", "norm": "clipnorm", "global_norm": "global_clipnorm"}
#: How figures, tables and controls name each mode.
LABELS = {
    "none": "no clipping",
    "value": "value",
    "norm": "per-tensor norm",
    "global_norm": "global norm",
}


def _check_grads(grads) -> list:
    if isinstance(grads, tf.Tensor | tf.Variable) or not isinstance(grads, Sequence):
        raise TypeError(
            f"grads must be a list of tensors (one per variable), got {type(grads).__name__}"
        )
    if len(grads) == 0:
        raise ValueError("grads must hold at least one tensor, got an empty list")
    checked = []
    for i, g in enumerate(grads):
        if g is None:
            raise ValueError(
                f"grads[{i}] is None (the loss does not depend on that variable): leave it out of grads"
            )
        try:
            g = tf.convert_to_tensor(g)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"grads[{i}] must be a tensor of floats, got {type(g).__name__}"
            ) from error
        if not g.dtype.is_floating:
            raise TypeError(
                f"grads[{i}] must hold floats (float16/32/64), got dtype {g.dtype.name}"
            )
        if checked and g.dtype != checked[0].dtype:
            first, this = checked[0].dtype.name, g.dtype.name
            raise TypeError(
                f"grads must share one dtype: grads[0] is {first}, grads[{i}] is {this}"
            )
        checked.append(g)
    return checked


def _scalar(name: str, value, dtype):
    """A threshold or ε: a Python number is checked (positive, finite); a tensor is taken as it is."""
    if not isinstance(value, tf.Tensor | tf.Variable):
        # straight to the gradients' dtype: tf.cast of a Python float would round it to float32 first
        return tf.constant(checks.positive(name, value), dtype)
    return tf.cast(value, dtype)


def tensor_norms(grads) -> tf.Tensor:
    """The L2 norm of each tensor, shape ``(len(grads),)``."""
    grads = _check_grads(grads)
    return tf.stack([tf.sqrt(tf.reduce_sum(tf.square(g))) for g in grads])


def global_norm(grads) -> tf.Tensor:
    """The L2 norm of all tensors together, sqrt(Σ ‖g_i‖²), a scalar (Keras's and PyTorch's "total norm")."""
    grads = _check_grads(grads)
    return tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads]))


def clip_by_value(grads, threshold) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Keras ``clipvalue``: every entry into [-threshold, threshold]. Returns ``(clipped, global_norm)``."""
    grads = _check_grads(grads)
    c = _scalar("threshold", threshold, grads[0].dtype)
    return [tf.clip_by_value(g, -c, c) for g in grads], global_norm(grads)


def clip_by_norm(grads, threshold) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Keras ``clipnorm``: each tensor rescaled on its own to norm at most ``threshold``.
    Returns ``(clipped, tensor_norms(grads))``."""
    grads = _check_grads(grads)
    c = _scalar("threshold", threshold, grads[0].dtype)
    clipped = []
    for g in grads:
        # Keras's guard for all-zero tensors
        l2sum = tf.reduce_sum(tf.square(g))
        positive = l2sum > 0
        l2norm = tf.where(positive, tf.sqrt(tf.where(positive, l2sum, tf.ones_like(l2sum))), l2sum)
        clipped.append(g * c / tf.maximum(l2norm, c))
    return clipped, tensor_norms(grads)


def clip_by_global_norm(grads, threshold) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Keras ``global_clipnorm`` (Pascanu et al. 2013, Algorithm 1). Returns ``(clipped, global_norm)``."""
    grads = _check_grads(grads)
    c = _scalar("threshold", threshold, grads[0].dtype)
    norm = global_norm(grads)
    scale = c * tf.minimum(1.0 / norm, 1.0 / c) + (
        norm - norm
    )  # Keras: NaN scale when the norm is inf/NaN
    return [g * scale for g in grads], norm


def clip(grads, mode: str, threshold=None) -> tuple[list[tf.Tensor], tf.Tensor]:
    """``(clipped, pre_clip_global_norm)`` by the rule of ``mode`` (one of ``MODES``).

    Args:
        threshold: the bound ``c``; ``None`` for ``"none"`` (which leaves the gradients alone), required otherwise.
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
    """``{layer name: indices into model.trainable_variables}`` in ``model.layers`` order, for ``clip_per_layer``.

    Layers without trainable variables are left out, a nested model is one layer, and variables of no layer are
    grouped under the model's own name.
    """
    if not hasattr(model, "layers") or not hasattr(model, "trainable_variables"):
        raise TypeError(
            f"model must be a Keras model (with .layers and .trainable_variables), got {type(model).__name__}"
        )
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    groups: dict[str, list[int]] = {}
    seen: set[int] = set()
    for layer in model.layers:
        indices = [
            position[id(v)]
            for v in layer.trainable_variables
            if id(v) in position and id(v) not in seen
        ]
        if indices:
            groups[layer.name] = indices
            seen.update(indices)
    rest = [i for i in range(len(position)) if i not in seen]
    if rest:
        groups.setdefault(model.name, []).extend(rest)
    if not groups:
        raise ValueError(
            f"model {model.name!r} has no trainable variables (build it first, e.g. by calling it once)"
        )
    return groups


def _check_groups(groups, count: int) -> dict[str, list[int]]:
    if not isinstance(groups, Mapping):
        raise TypeError(
            f"groups must be a mapping {{layer name: [gradient indices]}}, got {type(groups).__name__}"
        )
    checked: dict[str, list[int]] = {}
    owner: dict[int, str] = {}
    for name, indices in groups.items():
        if isinstance(indices, str | bytes) or not isinstance(indices, Sequence):
            raise TypeError(
                f"groups[{name!r}] must be a list of gradient indices, got {type(indices).__name__}"
            )
        if len(indices) == 0:
            raise ValueError(
                f"groups[{name!r}] is empty: every group needs at least one gradient index"
            )
        for index in indices:
            checks.positive_int(f"groups[{name!r}] index", index, minimum=0)
            if index >= count:
                raise ValueError(
                    f"groups[{name!r}] holds index {index}, but there are only {count} gradients"
                )
            if index in owner:
                raise ValueError(
                    f"gradient {index} is in two groups, {owner[index]!r} and {name!r}"
                )
            owner[index] = name
        checked[name] = list(indices)
    missing = [i for i in range(count) if i not in owner]
    if missing:
        raise ValueError(f"groups must cover every gradient; indices {missing} are in no group")
    return checked


def clip_per_layer(grads, groups, thresholds) -> tuple[list[tf.Tensor], dict[str, tf.Tensor]]:
    """Clip each layer's gradients by that layer's joint norm, with ``clip_by_global_norm`` (notebook 03). Returns
    ``(clipped, norms)``: the clipped list in the order of ``grads``, ``{layer name: pre-clip norm}``.

    Args:
        groups: ``{layer name: [indices into grads]}`` covering every gradient once (``layer_groups(model)``).
        thresholds: one bound for every layer, or ``{layer name: bound}`` with exactly the keys of ``groups``; a
            bound of ``None`` leaves that layer unclipped.
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
    else:
        thresholds = dict.fromkeys(groups, thresholds)
    clipped = list(grads)
    norms: dict[str, tf.Tensor] = {}
    for name, indices in groups.items():
        layer = [grads[i] for i in indices]
        norms[name] = global_norm(layer)
        if thresholds[name] is not None:
            bound = _scalar(f"thresholds[{name!r}]", thresholds[name], layer[0].dtype)
            for i, g in zip(indices, clip_by_global_norm(layer, bound)[0], strict=True):
                clipped[i] = g
    return clipped, norms


# ---------------------------------------------------------------------------------------------------------------
# Adaptive gradient clipping (Brock et al. 2021): notebook 05


def unitwise_norm(x) -> tf.Tensor:
    """The L2 norm of each *unit* of a weight (or gradient) tensor, broadcast back to ``x``'s shape.

    A unit is what one output unit owns, as in the paper, in Keras's ``(inputs, outputs)`` layouts: rank 0 or 1
    (a bias) is one unit; rank 2 and 3 have one unit per column (an output unit, or one gate of a recurrent unit);
    rank 4 (``Conv2D`` ``(h, w, in, out)``) one per output channel. Unlike optax, which makes any tensor that
    squeezes to a vector one unit, a ``(1, n)`` kernel here has ``n`` units.
    """
    x = tf.convert_to_tensor(x)
    rank = x.shape.rank
    if rank is None or rank > 4:
        raise ValueError(f"unitwise_norm needs a tensor of rank 0 to 4, got shape {x.shape}")
    axes = {0: None, 1: None, 2: [0], 3: [0], 4: [0, 1, 2]}[rank]
    squared = tf.reduce_sum(tf.square(x), axis=axes, keepdims=rank > 0)
    return tf.broadcast_to(tf.sqrt(squared), tf.shape(x))


def _check_params(params, grads: list) -> list:
    if isinstance(params, tf.Tensor | tf.Variable) or not isinstance(params, Sequence):
        raise TypeError(
            f"params must be a list of tensors or variables, one per gradient; got {type(params).__name__}"
        )
    if len(params) != len(grads):
        raise ValueError(
            f"params must hold one tensor per gradient: got {len(params)} params for {len(grads)} grads"
        )
    params = [tf.convert_to_tensor(w) for w in params]
    for i, (w, g) in enumerate(zip(params, grads, strict=True)):
        if w.shape != g.shape:
            raise ValueError(f"params[{i}] has shape {w.shape} but grads[{i}] has shape {g.shape}")
        if w.dtype != g.dtype:
            raise TypeError(
                f"params[{i}] has dtype {w.dtype.name} but grads[{i}] has dtype {g.dtype.name}"
            )
    return params


def _check_skip(skip, count: int) -> set[int]:
    if isinstance(skip, str | bytes) or not isinstance(skip, Sequence | set | frozenset):
        raise TypeError(f"skip must be a list of gradient indices, got {type(skip).__name__}")
    checked = set()
    for index in skip:
        checks.positive_int("skip index", index, minimum=0)
        if index >= count:
            raise ValueError(f"skip holds index {index}, but there are only {count} gradients")
        checked.add(int(index))
    return checked


def unitwise_ratios(grads, params, eps: float = 1e-3) -> list[tf.Tensor]:
    """What AGC compares with λ: ``‖G_i‖ / max(‖W_i‖, ε)`` for every unit ``i``, broadcast to each tensor's shape.

    Args:
        grads, params: the gradients and the weights, same shapes and dtype.
        eps: ``ε``, the floor on a unit's weight norm.
    """
    grads = _check_grads(grads)
    params = _check_params(params, grads)
    dtype = grads[0].dtype
    epsilon = _scalar("eps", eps, dtype)
    return [unitwise_norm(g) / tf.maximum(unitwise_norm(w), epsilon) for g, w in zip(grads, params)]


def agc(grads, params, factor, eps: float = 1e-3, skip=()) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Adaptive gradient clipping (Brock et al. 2021, NFNets, eq. 3); returns ``(clipped, pre_clip_global_norm)``.
    For each unit ``i`` (``unitwise_norm``) of each gradient tensor ``G`` with weights ``W``::

        G_i  <-  λ · max(‖W_i‖, ε) / ‖G_i‖ · G_i    where  ‖G_i‖ / max(‖W_i‖, ε) > λ,   unchanged elsewhere.

    Args:
        grads, params: the gradients and the weights (``model.trainable_variables``), same shapes and dtype.
        factor: ``λ`` (the paper: 0.01 at batch size 4096, larger for smaller batches).
        eps: ``ε`` (the paper's 1e-3 lets zero-initialised weights still move).
        skip: indices of gradients left unclipped; the paper leaves the final layer: ``last_layer(model)``.
    """
    grads = _check_grads(grads)
    params = _check_params(params, grads)
    skipped = _check_skip(skip, len(grads))
    dtype = grads[0].dtype
    lam = _scalar("factor", factor, dtype)
    epsilon = _scalar("eps", eps, dtype)
    clipped = []
    for i, (g, w) in enumerate(zip(grads, params, strict=True)):
        if i in skipped:
            clipped.append(g)
            continue
        max_norm = lam * tf.maximum(unitwise_norm(w), epsilon)
        g_norm = unitwise_norm(g)
        # The guard keeps the unused branch finite (optax's max(g_norm, 1e-6) over-clips units with ‖G_i‖ < 1e-6
        # when λ·ε is smaller still); "keep where g_norm < max_norm" sends a NaN norm to the rescaled branch.
        rescaled = g * (max_norm / tf.where(tf.equal(g_norm, 0), tf.ones_like(g_norm), g_norm))
        clipped.append(tf.where(g_norm < max_norm, g, rescaled))
    return clipped, global_norm(grads)


def last_layer(model) -> list[int]:
    """Indices (into ``model.trainable_variables``) of the last layer with trainable variables: AGC's ``skip``."""
    return list(layer_groups(model).values())[-1]


# ---------------------------------------------------------------------------------------------------------------
# AutoClip (Seetharaman et al. 2020): notebook 05


def check_percentile(p) -> float:
    """``p`` as a float; ``ValueError`` unless it is a percentile in (0, 100] (AutoClip's parameter)."""
    p = checks.finite("p", p)
    if not 0 < p <= 100:
        raise ValueError(f"p (a percentile) must be in (0, 100], got {p}")
    return p


def percentile(values, p, count=None) -> tf.Tensor:
    """The ``p``-th percentile of the first ``count`` (default: all) entries along the last axis of ``values``, as
    ``np.percentile``: sorted ``v``, ``q = p/100·(n−1)``, ``v[⌊q⌋] + (q − ⌊q⌋)·(v[⌊q⌋+1] − v[⌊q⌋])``; NaN when
    ``count`` is 0. ``count``: a scalar or one per leading axis; a tensor works under XLA. Computed in ``values``'
    dtype, ``q`` too: float32 differs from ``np.percentile`` in float64 by up to 7.7e-6 relative (measured on 300
    random histories of 2 to 3,000 log-normal norms).
    """
    values = tf.convert_to_tensor(values)
    size = tf.shape(values)[-1]
    n = (
        tf.fill(tf.shape(values)[:-1], size)
        if count is None
        else tf.broadcast_to(tf.cast(count, tf.int32), tf.shape(values)[:-1])
    )
    n = tf.minimum(n, size)
    positions = tf.range(size)
    inf = tf.constant(float("inf"), values.dtype)
    valid = positions < n[..., None]
    ordered = tf.sort(
        tf.where(valid, values, inf), axis=-1
    )  # the first n entries, sorted, then +inf
    p = (
        tf.cast(p, values.dtype)
        if isinstance(p, tf.Tensor | tf.Variable)
        else tf.constant(check_percentile(p), values.dtype)
    )
    q = p / tf.constant(100.0, values.dtype) * tf.cast(tf.maximum(n - 1, 0), values.dtype)
    low = tf.cast(tf.floor(q), tf.int32)
    high = tf.minimum(low + 1, tf.maximum(n - 1, 0))
    a = tf.gather(ordered, low[..., None], axis=-1, batch_dims=low.shape.rank)[..., 0]
    b = tf.gather(ordered, high[..., None], axis=-1, batch_dims=high.shape.rank)[..., 0]
    t = q - tf.floor(q)
    # NumPy's _lerp: a + (b − a)·t, computed from the nearer end for t >= 0.5
    result = tf.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)
    result = tf.where(tf.equal(a, b), a, result)  # equal neighbours: exactly that value
    return tf.where(n > 0, result, tf.constant(float("nan"), values.dtype))


def autoclip_step(history, count, norm, p):
    """One step of AutoClip's bookkeeping, a pure function (``AutoClip``'s and ``helpers.training``'s).

    Args:
        history: a ring buffer of the last recorded norms, ``capacity`` slots; slot ``count % capacity`` is next.
        count: norms recorded so far.
        norm: this step's pre-clip global norm, recorded only when finite.
        p: the percentile.

    Returns:
        ``(history, count, threshold)``: the ``p``-th percentile of the buffer's norms (NaN before the first).
    """
    capacity = history.shape[-1]
    finite = tf.math.is_finite(norm)
    slot = tf.math.floormod(count, tf.cast(capacity, count.dtype))
    here = tf.equal(tf.range(capacity, dtype=count.dtype), slot)
    history = tf.where(finite & here, tf.cast(norm, history.dtype), history)
    count = count + tf.cast(finite, count.dtype)
    return history, count, percentile(history, p, count=tf.minimum(count, capacity))


class AutoClip:
    """AutoClip with its state: ``clipper(grads)`` records the pre-clip global norm (when finite) and clips by global
    norm at the ``p``-th percentile of the recorded norms; returns ``(clipped, pre_clip_global_norm)`` like ``clip``.
    The norms live in ``tf.Variable``s (callable in a compiled ``tf.function``): the last ``capacity`` of them, as
    the ``autoclip`` package's ``history_length`` (the paper keeps all: give ``capacity`` >= the steps), in ``dtype``.
    """

    def __init__(self, p: float = 10.0, capacity: int = 10_000, dtype: str = "float32"):
        self.p = check_percentile(p)
        self.capacity = checks.positive_int("capacity", capacity)
        checks.one_of("dtype", dtype, ("float32", "float64"))
        self.dtype = tf.as_dtype(dtype)
        self.norms = tf.Variable(
            tf.zeros([self.capacity], self.dtype), trainable=False, name="autoclip_norms"
        )
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False, name="autoclip_count")
        self.last_threshold = tf.Variable(
            float("nan"), dtype=self.dtype, trainable=False, name="autoclip_threshold"
        )

    def record(self, norm) -> tf.Tensor:
        """Append one pre-clip norm to the history (ignored when it is not finite); returns the new threshold."""
        history, count, threshold = autoclip_step(
            self.norms, self.count, tf.cast(norm, self.dtype), self.p
        )
        self.norms.assign(history)
        self.count.assign(count)
        return threshold

    def threshold(self) -> tf.Tensor:
        """The ``p``-th percentile of the recorded norms (NaN before the first finite one)."""
        return percentile(self.norms, self.p, count=tf.minimum(self.count, self.capacity))

    def __call__(self, grads) -> tuple[list[tf.Tensor], tf.Tensor]:
        grads = _check_grads(grads)
        norm = global_norm(grads)
        threshold = self.record(norm)
        self.last_threshold.assign(threshold)
        clipped, _ = clip_by_global_norm(grads, tf.cast(threshold, grads[0].dtype))
        return clipped, norm

    def history(self) -> np.ndarray:
        """The recorded norms in the buffer, oldest first."""
        count = int(self.count.numpy())
        norms = self.norms.numpy()
        if count <= self.capacity:
            return norms[:count].copy()
        start = count % self.capacity
        return np.concatenate([norms[start:], norms[:start]])

    def reset(self) -> None:
        """Forget every recorded norm."""
        self.norms.assign(tf.zeros_like(self.norms))
        self.count.assign(0)
        self.last_threshold.assign(float("nan"))


# Rules for a training loop: what helpers.training and helpers.fit_clipping run, one mode each.


@dataclass(frozen=True)
class ClipRule:
    """The rule of mode ``name``. ``clip(grads, threshold, weights, state, context) -> (clipped, was_clipped,
    new_state)`` sees **one** setting (traceable in ``tf.vectorized_map`` and XLA): ``grads``, ``weights`` (before
    the update) in ``model.trainable_variables`` order, a float32 ``threshold``, ``state`` (``state_size`` floats
    kept from step to step, zeros at first) and ``context`` (``{"final_layer": the last layer's variables}``).
    ``check(threshold)`` raises ``ValueError`` for a bad one; ``label`` formats it, e.g. ``"AGC λ={threshold:g}"``.
    """

    name: str
    clip: Callable
    needs_threshold: bool = True
    state_size: int = 0
    check: Callable | None = None
    label: str | None = None


def _fixed_rule(mode: str) -> ClipRule:
    """A mode of ``helpers.clip`` (``MODES``) as a rule, labelled with ``LABELS``."""
    clipped_if = {
        "none": lambda grads, c: tf.constant(False),
        "value": lambda grads, c: tf.reduce_any(
            tf.stack([tf.reduce_max(tf.abs(g)) > c for g in grads])
        ),
        "norm": lambda grads, c: tf.reduce_any(tensor_norms(list(grads)) > c),
        "global_norm": lambda grads, c: global_norm(list(grads)) > c,
    }[mode]

    def apply(grads, threshold, weights, state, context):
        clipped, _ = clip(list(grads), mode, None if mode == "none" else threshold)
        return clipped, clipped_if(grads, threshold), state

    label = LABELS[mode] + ("" if mode == "none" else " ≤ {threshold:g}")
    return ClipRule(mode, apply, needs_threshold=mode != "none", label=label)


def autoclip_rule(capacity: int = 2000) -> ClipRule:
    """AutoClip (Seetharaman et al. 2020): ``helpers.autoclip_step`` over the last ``capacity`` norms."""
    capacity = checks.positive_int("capacity", capacity)

    def apply(grads, p, weights, state, context):
        norm = global_norm(list(grads))
        history, count, threshold = autoclip_step(state[1:], state[0], norm, p)
        clipped, _ = clip_by_global_norm(list(grads), threshold)
        return clipped, norm > threshold, tf.concat([count[None], history], axis=0)

    return ClipRule(
        "autoclip",
        apply,
        state_size=1 + capacity,
        check=check_percentile,
        label="AutoClip p={threshold:g}",
    )


def agc_rule(eps: float = 1e-3) -> ClipRule:
    """Adaptive gradient clipping (Brock et al. 2021): ``helpers.agc``, the final layer left unclipped."""
    eps = checks.positive("eps", eps)

    def apply(grads, factor, weights, state, context):
        clipped, _ = agc(list(grads), list(weights), factor, eps, skip=context["final_layer"])
        changed = tf.reduce_any(tf.stack([tf.reduce_any(a != g) for a, g in zip(clipped, grads)]))
        return clipped, changed, state

    return ClipRule("agc", apply, label="AGC λ={threshold:g}")


_RULES: dict[str, ClipRule] = {}
#: The threshold a compiled rule is handed for a mode that takes none (``"none"``): any number would do, it is unused.
NO_THRESHOLD = 1.0


def threshold_value(threshold) -> float:
    """``threshold`` as the number a compiled rule is handed: ``NO_THRESHOLD`` for ``None``."""
    return NO_THRESHOLD if threshold is None else float(threshold)


def rules() -> dict[str, ClipRule]:
    """The clipping rules by mode, those of ``register_rule`` included."""
    if not _RULES:
        _RULES.update({mode: _fixed_rule(mode) for mode in MODES})
        _RULES.update(autoclip=autoclip_rule(), agc=agc_rule())
    return dict(_RULES)


def register_rule(rule: ClipRule) -> None:
    """Make a clipping rule available as ``Setting(mode=rule.name, ...)`` (replacing one of the same name). The
    trainer keys its compiled functions by the rule objects themselves, so a replaced rule is never run from a
    function traced with the old one."""
    if not isinstance(rule, ClipRule):
        raise TypeError(f"rule must be a ClipRule, got {type(rule).__name__}")
    checks.positive_int("rule.state_size", rule.state_size, minimum=0)
    rules()
    _RULES[rule.name] = rule


def check_threshold(mode: str, threshold) -> float | None:
    """``threshold`` for ``mode`` (one of ``rules()``) checked: ``None`` for ``"none"``, else a positive number finite
    in float32 (the gradients' dtype) that the rule accepts (e.g. a percentile in (0, 100] for AutoClip)."""
    checks.one_of("mode", mode, tuple(rules()))
    rule = rules()[mode]
    if not rule.needs_threshold:
        if threshold is not None:
            raise ValueError(f"threshold must be None when mode={mode!r}, got {threshold!r}")
        return None
    if threshold is None:
        raise ValueError(f"threshold is required for mode={mode!r}: a positive finite number")
    threshold = checks.positive("threshold", threshold)
    largest = float(np.finfo(np.float32).max)
    if threshold > largest:
        raise ValueError(
            f"threshold must be finite in float32, the gradients' dtype (at most {largest:.3g}), "
            f"got {threshold:g}"
        )
    if rule.check is not None:
        rule.check(threshold)
    return threshold
