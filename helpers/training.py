"""One fast, instrumented training loop for Keras classifiers, several settings at once (notebook 04; used by 05).

Words: a **mode** names a clipping rule (``"none"``, ``"value"``, ``"norm"``, ``"global_norm"``, ``"autoclip"``,
``"agc"``); a **rule** is the ``ClipRule`` that implements it; a **threshold** is a rule's one positive parameter
(the bound c for value/norm/global_norm, the percentile p for AutoClip, the factor λ for AGC). ``train`` returns one
``History`` per ``Setting``: per step the loss, the batch accuracy, the pre-clip global gradient norm and whether
the rule clipped. A setting stops at its first step with a NaN/inf loss or gradient (not applied; no exception).

One step (``_step``), for every setting ``k`` at once::

    with tf.GradientTape() as tape:                               # helpers.engines: K copies of the model
        loss = sparse_categorical_crossentropy(y, model_k(x))
    grads = tape.gradient(loss, model_k.trainable_variables)
    clipped = rule_k(grads, threshold_k)                          # _clip_all
    ok = loss, pre-clip norm and clipped gradients are finite     # else diverged_at = this step
    weights_k = optimizer_k(weights_k, clipped) where ok          # _optimizer_step: Keras 3's SGD, Adam, RMSprop

A chunk of steps is one ``tf.while_loop`` inside one ``tf.function(jit_compile=True)`` (``_chunk_function``), and
every per-setting number (``_Hyper``) is a tensor, so changing one never recompiles. The batches are the article's
pipeline (``helpers.data.batch_order``). ``keras_optimizer`` and ``keras_model`` give a setting's Keras equivalents.

**One answer per setting.** In the unstable regime float32 rounding differences grow to O(1) within a few hundred
steps, and batched arithmetic rounds differently for different batch shapes. So settings are trained in blocks of
exactly ``BLOCK`` (``_Block``, padded with inert copies) that share a data seed and a compiled function: a setting's
history is bitwise the same alone or with any others, at any position. Blocks step in ``THREADS`` threads.
``train_seeds`` trains settings x seeds in one call; ``SeedRuns`` summarises them. Nothing a caller set changes the
numbers (``_own_numerics``): XLA compiles different code, rounding differently, with and without TensorFlow's op
determinism (which ``helpers.seed_everything`` turns on), so the trainer compiles and runs with it on, and builds its
models in float32 whatever Keras's global dtype policy.
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import (
    config as tf_config,
)  # disable_op_determinism is not exported
from tqdm.auto import tqdm

from helpers import checks, clipping, engines
from helpers.data import batch_order, scale_images
from helpers.models import article_lstm

OPTIMIZERS = ("sgd", "adam", "rmsprop")
#: Keras 3's defaults for Adam and RMSprop.
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7
RMSPROP_RHO, RMSPROP_EPSILON = 0.9, 1e-7
LOSSES = ("sparse_categorical_crossentropy", "mse")
ENGINES = ("auto", "vectorized", "keras")

BLOCK = 2  # settings per block (module docstring)
#: Blocks stepped at once (same numbers for any value); environment variable ``HELPERS_TRAIN_THREADS``.
THREADS = max(1, int(os.environ.get("HELPERS_TRAIN_THREADS", os.cpu_count() or 1)))


@dataclass(frozen=True)
class Setting:
    """One training configuration (hashable, compared by value): a mode of ``helpers.clipping.rules()`` and its
    threshold (``None`` for ``"none"``), the optimizer (``momentum`` in [0, 1) for SGD only) and the seed of the
    initial weights."""

    mode: str = "none"
    threshold: float | None = None
    learning_rate: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.0
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "threshold", clipping.check_threshold(self.mode, self.threshold))
        object.__setattr__(
            self, "learning_rate", checks.positive("learning_rate", self.learning_rate)
        )
        checks.one_of("optimizer", self.optimizer, OPTIMIZERS)
        momentum = checks.finite("momentum", self.momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if momentum and self.optimizer != "sgd":
            raise ValueError(
                f"momentum is an SGD option; it must be 0 for optimizer={self.optimizer!r}"
            )
        object.__setattr__(self, "momentum", momentum)
        object.__setattr__(self, "seed", checks.positive_int("seed", self.seed, minimum=0))
        largest = float(np.finfo(np.float32).max)
        if self.learning_rate > largest:
            raise ValueError(
                f"learning_rate must be finite in float32, the gradients' dtype (at most {largest:.3g}), "
                f"got {self.learning_rate:g}"
            )

    @property
    def rule_label(self) -> str:
        """The clipping rule and its threshold for tables and legends, e.g. ``"global norm ≤ 0.1"``."""
        rule = clipping.rules()[self.mode]
        return (rule.label or rule.name + " {threshold}").format(threshold=self.threshold)

    @property
    def label(self) -> str:
        """``rule_label`` and the optimizer, e.g. ``"value ≤ 0.5, SGD lr=0.01"``."""
        opt = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}[self.optimizer]
        if self.momentum:
            opt += f"+momentum {self.momentum:g}"
        return f"{self.rule_label}, {opt} lr={self.learning_rate:g}"


@dataclass(frozen=True, eq=False)
class History:
    """One setting's run: per step run (arrays of length ``steps``) the batch's mean loss, accuracy, pre-clip
    global norm and whether the rule changed the gradient. ``diverged_at``: the NaN/inf step (the last entries; its
    update not applied) or ``None``; ``seconds``: the whole ``train`` call's wall time; ``weights``: the final ones.
    """

    setting: Setting
    loss: np.ndarray
    accuracy: np.ndarray
    grad_norm: np.ndarray
    clipped: np.ndarray
    diverged_at: int | None
    steps: int
    steps_requested: int
    seconds: float
    weights: tuple = field(repr=False)

    @property
    def diverged(self) -> bool:
        """True when the run hit a NaN/inf loss or gradient."""
        return self.diverged_at is not None

    @property
    def clipped_fraction(self) -> float:
        """Fraction of the steps run whose gradient was clipped."""
        return float(np.mean(self.clipped)) if self.steps else math.nan

    def final_loss(self, window: int = 50) -> float:
        """Mean training loss over the last ``window`` steps; ``inf`` for a diverged run."""
        window = checks.positive_int("window", window)
        if self.diverged:
            return math.inf
        return float(np.mean(self.loss[-window:])) if self.steps else math.nan

    def smoothed(self, name: str = "loss", window: int = 50) -> np.ndarray:
        """A running mean (over ``window`` steps) of ``loss``, ``accuracy`` or ``grad_norm``, same length."""
        checks.one_of("name", name, ("loss", "accuracy", "grad_norm"))
        window = checks.positive_int("window", window)
        values = getattr(self, name).astype(np.float64)
        cumulative = np.concatenate([[0.0], np.cumsum(values)])
        counts = np.minimum(np.arange(1, len(values) + 1), window)
        return (cumulative[1:] - cumulative[np.arange(1, len(values) + 1) - counts]) / counts


class _State(NamedTuple):
    """What a block carries from step to step; every tensor has a first axis of ``BLOCK`` settings."""

    weights: list  # the stacked trainable weights, in ``model.trainable_variables`` order
    first: list  # the optimizer's first moment per weight: SGD's momentum buffer, Adam's m
    second: list  # its second moment: Adam's v, RMSprop's mean square
    rule_states: list  # one (BLOCK, state_size) tensor per rule of the block (zero-width for stateless rules)
    count: tf.Tensor  # float32: updates applied so far (Adam's bias correction uses count + 1)
    alive: tf.Tensor  # bool: still training (False after a non-finite step, and for padding)
    diverged_at: tf.Tensor  # int32: the step a setting diverged at, -1 while it has not


class _Hyper(NamedTuple):
    """A block's per-setting numbers, ``(BLOCK,)`` tensors: changing them never recompiles."""

    learning_rate: tf.Tensor  # float32
    threshold: tf.Tensor  # float32 (helpers.clipping.NO_THRESHOLD where the mode takes none)
    momentum: tf.Tensor  # float32 (SGD)
    rule: tf.Tensor  # int32: index into the block's rule list
    optimizer: tf.Tensor  # int32: index into OPTIMIZERS


def _per_setting(mask, like):
    """``mask`` of shape ``(K,)`` reshaped to broadcast against a stacked tensor ``like`` ``(K, ...)``."""
    return tf.reshape(mask, [-1] + [1] * (like.shape.rank - 1))


def _clip_all(grads, weights, hyper, rule_list, rule_states, context):
    """``(clipped gradients, pre-clip global norms, clipped flags, new rule states)``: each rule with a threshold
    that a setting of the block uses runs for every setting (``tf.vectorized_map``, skipped by ``tf.cond`` when no
    setting uses it), kept where ``hyper.rule`` picks it."""
    global_norm = tf.sqrt(
        tf.add_n([tf.reduce_sum(tf.square(g), axis=list(range(1, g.shape.rank))) for g in grads])
    )
    out = list(grads)
    was = tf.zeros_like(hyper.rule, tf.bool)
    new_states = list(rule_states)
    for j, rule in enumerate(rule_list):
        if not rule.needs_threshold:
            continue

        def one_setting(args, rule=rule):
            grads_k, weights_k, threshold_k, state_k = args
            return rule.clip(grads_k, threshold_k, weights_k, state_k, context)

        def run(j=j, one_setting=one_setting):
            return tf.vectorized_map(
                one_setting, (list(grads), list(weights), hyper.threshold, rule_states[j])
            )

        def skip(j=j):
            return list(grads), tf.zeros_like(hyper.rule, tf.bool), rule_states[j]

        chosen = tf.equal(hyper.rule, j)
        clipped, flag, state = tf.cond(tf.reduce_any(chosen), run, skip)
        out = [tf.where(_per_setting(chosen, g), c, o) for g, c, o in zip(grads, clipped, out)]
        was = tf.where(chosen, flag, was)
        if rule.state_size:
            new_states[j] = tf.where(chosen[:, None], state, rule_states[j])
    return out, global_norm, was, new_states


def _optimizer_step(weights, first, second, grads, count, hyper):
    """The new ``(weights, first, second)`` after one update, Keras 3's arithmetic; ``count``: Adam's
    ``iterations + 1``. All three optimizers are computed and one kept, so one compiled function serves any mix of
    optimizers (04 mixes SGD and Adam) at no measurable cost (8 settings x 500 steps: 11.31 s vs 11.32 s SGD-only).
    """
    new_w, new_m, new_v = [], [], []
    for w, m, v, g in zip(weights, first, second, grads):
        lr = _per_setting(hyper.learning_rate, w)
        sgd_m = m * _per_setting(hyper.momentum, w) - g * lr
        sgd_w = w + sgd_m
        # Adam (keras/src/optimizers/adam.py)
        step = _per_setting(count, w)
        alpha = lr * tf.sqrt(1 - tf.pow(ADAM_BETA_2, step)) / (1 - tf.pow(ADAM_BETA_1, step))
        adam_m = m + (g - m) * (1 - ADAM_BETA_1)
        adam_v = v + (tf.square(g) - v) * (1 - ADAM_BETA_2)
        adam_w = w - (adam_m * alpha) / (tf.sqrt(adam_v) + ADAM_EPSILON)
        # RMSprop (keras/src/optimizers/rmsprop.py), no momentum, not centered
        rms_v = RMSPROP_RHO * v + (1 - RMSPROP_RHO) * tf.square(g)
        rms_w = w - (lr * g) / tf.sqrt(rms_v + RMSPROP_EPSILON)
        kind = _per_setting(hyper.optimizer, w)
        new_w.append(tf.where(kind == 0, sgd_w, tf.where(kind == 1, adam_w, rms_w)))
        new_m.append(tf.where(kind == 0, sgd_m, tf.where(kind == 1, adam_m, m)))
        new_v.append(tf.where(kind == 1, adam_v, tf.where(kind == 2, rms_v, v)))
    return new_w, new_m, new_v


def _step(engine, rule_list, loss, state, hyper, x, y, step):
    """One step of a block (module docstring), batch ``x, y`` as step number ``step``: ``(new _State, (loss,
    accuracy, pre-clip global norm, clipped))``. A non-finite step stops its setting (``alive``, ``diverged_at``)."""
    with tf.GradientTape() as tape:
        tape.watch(state.weights)
        _, losses, accuracy = engine.probabilities_and_loss(state.weights, x, y, loss)
        total = tf.reduce_sum(tf.where(state.alive, losses, 0.0))
    grads = tape.gradient(total, state.weights)
    clipped, norm, was_clipped, rule_states = _clip_all(
        grads, state.weights, hyper, rule_list, state.rule_states, engine.context
    )
    finite = [
        tf.reduce_all(tf.math.is_finite(c), axis=list(range(1, c.shape.rank))) for c in clipped
    ]
    ok = (
        state.alive
        & tf.math.is_finite(losses)
        & tf.math.is_finite(norm)
        & tf.reduce_all(tf.stack(finite), axis=0)
    )
    count = state.count + tf.cast(ok, tf.float32)
    updated = _optimizer_step(state.weights, state.first, state.second, clipped, count, hyper)
    weights, first, second = (
        [tf.where(_per_setting(ok, o), a, o) for a, o in zip(new, old)]
        for new, old in zip(updated, (state.weights, state.first, state.second))
    )
    rule_states = [tf.where(ok[:, None], a, o) for a, o in zip(rule_states, state.rule_states)]
    diverged_at = tf.where(state.alive & ~ok, step, state.diverged_at)
    new = _State(weights, first, second, rule_states, count, ok, diverged_at)
    return new, (losses, accuracy, norm, was_clipped)


_CHUNK_FUNCTIONS: dict = {}


def _chunk_function(engine, rule_list, loss):
    """The compiled ``run(state, hyper, xs, ys, n, offset) -> (state, steps run, records)``: ``_step`` for steps
    ``offset .. offset + n - 1`` on the batches ``xs[i], ys[i]`` (a ``tf.while_loop``, ended early once every
    setting has stopped); the records stacked ``(len(xs), BLOCK)``. One per engine, rule list and loss (cached)."""
    key = (engine.key, tuple(rule_list), engine.context["final_layer"], loss)
    if key in _CHUNK_FUNCTIONS:
        return _CHUNK_FUNCTIONS[key]

    @tf.function(jit_compile=True, autograph=False)  # explicit tf.while_loop: no AutoGraph needed
    def run(state, hyper, xs, ys, n, offset):
        logs = [
            tf.TensorArray(dtype, size=tf.shape(xs)[0], element_shape=[None])
            for dtype in (tf.float32, tf.float32, tf.float32, tf.bool)
        ]

        def body(i, state, logs):
            state, records = _step(engine, rule_list, loss, state, hyper, xs[i], ys[i], offset + i)
            return i + 1, state, [log.write(i, record) for log, record in zip(logs, records)]

        i, state, logs = tf.while_loop(
            lambda i, state, logs: (i < n) & tf.reduce_any(state.alive),
            body,
            (tf.constant(0), state, logs),
            maximum_iterations=xs.shape[0],
        )
        return state, i, [log.stack() for log in logs]

    _CHUNK_FUNCTIONS[key] = run
    return run


def _family(mode: str) -> str:
    """``"fixed"`` for the modes of ``helpers.clipping.clip`` (``clipping.MODES``), else ``"adaptive"``: a block holds
    settings of one family and runs its family's compiled function, which holds that family's rules only (and
    ``"none"``), so a model compiles at most twice and a notebook without adaptive rules compiles the smaller one."""
    return "fixed" if mode in clipping.MODES else "adaptive"


def _blocks(settings: list[Setting], data_seeds: list[int]) -> list[list[int]]:
    """Indices of ``settings`` in blocks of at most ``BLOCK`` sharing a data seed and a ``_family``, so a setting's
    compiled function depends only on its own mode."""
    groups: dict[tuple, list[int]] = {}
    for i, (setting, seed) in enumerate(zip(settings, data_seeds)):
        groups.setdefault((_family(setting.mode), seed), []).append(i)
    return [
        members[j : j + BLOCK] for members in groups.values() for j in range(0, len(members), BLOCK)
    ]


class _Block:
    """Up to ``BLOCK`` settings (``settings[i]`` for ``i`` in ``members``) trained as one compiled computation on
    the batches of ``data_seed``, padded with inert copies of the first."""

    def __init__(self, settings, members, data_seed, engine, model_fn, loss):
        block = [settings[i] for i in members + [members[0]] * (BLOCK - len(members))]
        fixed = (
            _family(block[0].mode) == "fixed"
        )  # each family's function holds only its rules: less to compile
        names = [
            name for name in clipping.rules() if name == "none" or (name in clipping.MODES) == fixed
        ]
        rule_list = [clipping.rules()[name] for name in names]
        self.members, self.data_seed, self.running = members, data_seed, True
        self.function = _chunk_function(engine, rule_list, loss)
        self.hyper = _Hyper(
            tf.constant([s.learning_rate for s in block], tf.float32),
            tf.constant([clipping.threshold_value(s.threshold) for s in block], tf.float32),
            tf.constant([s.momentum for s in block], tf.float32),
            tf.constant([names.index(s.mode) for s in block], tf.int32),
            tf.constant([OPTIMIZERS.index(s.optimizer) for s in block], tf.int32),
        )
        weights = [
            tf.constant(np.stack(ws))
            for ws in zip(*[initial_weights(model_fn, s.seed) for s in block])
        ]
        zeros = [tf.zeros_like(w) for w in weights], [tf.zeros_like(w) for w in weights]
        self.state = _State(
            weights,
            *zeros,
            [tf.zeros([BLOCK, rule.state_size], tf.float32) for rule in rule_list],
            tf.zeros([BLOCK], tf.float32),
            tf.constant([True] * len(members) + [False] * (BLOCK - len(members))),
            tf.fill([BLOCK], tf.constant(-1, tf.int32)),
        )
        self.records = [
            [] for _ in range(4)
        ]  # loss, accuracy, grad_norm, clipped: one (steps, BLOCK) per chunk

    def advance(self, batches: dict, n: int, done: int) -> None:
        """Run steps ``done .. done + n - 1`` on this block's chunk of ``batches`` (``{data_seed: (xs, ys)}``)."""
        xs, ys = batches[self.data_seed]
        self.state, ran, records = self.function(
            self.state, self.hyper, xs, ys, tf.constant(n), tf.constant(done)
        )
        for store, values in zip(self.records, records):
            store.append(
                np.array(values.numpy()[: int(ran)])
            )  # own copies: no TF buffers kept alive
        self.running = bool(tf.reduce_any(self.state.alive))

    def histories(self, settings, steps_requested: int, done: int, seconds: float):
        """``(index in settings, History)`` for each member after ``done`` steps."""
        stacked = [
            np.concatenate(store) if store else np.zeros((0, BLOCK)) for store in self.records
        ]
        diverged = self.state.diverged_at.numpy()
        final = [np.array(w.numpy()) for w in self.state.weights]
        for slot, i in enumerate(self.members):
            stop = int(diverged[slot]) + 1 if diverged[slot] >= 0 else done
            loss, accuracy, grad_norm, clipped = (values[:stop, slot] for values in stacked)
            yield (
                i,
                History(
                    settings[i],
                    loss.astype(np.float32),
                    accuracy.astype(np.float32),
                    grad_norm.astype(np.float32),
                    clipped.astype(bool),
                    diverged_at=int(diverged[slot]) if diverged[slot] >= 0 else None,
                    steps=stop,
                    steps_requested=steps_requested,
                    seconds=seconds,
                    weights=tuple(w[slot] for w in final),
                ),
            )


_INITIAL_WEIGHTS: dict = {}


_NUMERICS_LOCK = threading.Lock()
_numerics_users = 0
_determinism_was_on = False


@contextlib.contextmanager
def _own_numerics():
    """TensorFlow's op determinism on while the trainer compiles and runs (restored after the last concurrent use):
    the same setting then gives the same numbers whether or not the caller turned it on."""
    global _numerics_users, _determinism_was_on
    with _NUMERICS_LOCK:
        if _numerics_users == 0:
            _determinism_was_on = tf_config.is_op_determinism_enabled()
            tf_config.enable_op_determinism()
        _numerics_users += 1
    try:
        yield
    finally:
        with _NUMERICS_LOCK:
            _numerics_users -= 1
            if _numerics_users == 0 and not _determinism_was_on:
                tf_config.disable_op_determinism()


@contextlib.contextmanager
def _float32_keras():
    """Keras's global dtype policy and floatx set to float32 inside, the caller's restored after."""
    policy, floatx = keras.config.dtype_policy(), keras.config.floatx()
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("float32")
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


def _build(model_fn: Callable, seed: int | None = None):
    """``model_fn(seed=seed)`` if it takes a ``seed``, else ``model_fn()``, in float32, after
    ``keras.utils.set_random_seed`` (``seed=None``: no seeding)."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    try:
        takes_seed = seed is not None and "seed" in inspect.signature(model_fn).parameters
    except (TypeError, ValueError):  # a callable without a signature
        takes_seed = False
    with _float32_keras():
        return model_fn(seed=seed) if takes_seed else model_fn()


def initial_weights(model_fn: Callable, seed: int) -> tuple[np.ndarray, ...]:
    """The trainable weights of ``model_fn``'s model for ``seed`` (``_build``, cached)."""
    seed = checks.positive_int("seed", seed, minimum=0)
    key = (model_fn, seed)
    if key not in _INITIAL_WEIGHTS:
        model = _build(model_fn, seed)
        _INITIAL_WEIGHTS[key] = tuple(np.array(v.numpy()) for v in model.trainable_variables)
    return _INITIAL_WEIGHTS[key]


_ENGINES: dict = {}


def _prepare(model_fn, engine):
    """The engine for ``model_fn``'s architecture (built once per model function and engine)."""
    key = (model_fn, engine)
    if key not in _ENGINES:
        template = _build(model_fn, 0)
        if not isinstance(template, keras.Model):
            raise TypeError(f"model must return a keras.Model, got {type(template).__name__}")
        reason = engines.unsupported(template)
        if engine == "vectorized" and reason is not None:
            raise ValueError(
                f"engine='vectorized' cannot run this model: {reason}; use engine='keras'"
            )
        vectorized = engine != "keras" and reason is None
        _ENGINES[key] = (engines.VectorizedEngine if vectorized else engines.KerasEngine)(template)
    return _ENGINES[key]


def _chunks(data, data_seed: int, batch_size: int, shuffle_buffer: int, size: int, count: int):
    """``count`` chunks ``(xs, ys)`` of ``size`` batches of ``data`` (as ``check_data`` returns it), in an order
    set by ``data_seed`` alone. For ``(x, y)``: ``fashion_mnist_pipeline``'s batches, its example order
    (``batch_order``) drawn up front and each chunk gathered from ``x`` with NumPy (uint8 scaled per chunk)."""
    keras.utils.set_random_seed(data_seed)  # tf.data's shuffle order depends on the global seed too
    if isinstance(data, tuple | list) and len(data) == 2:
        x, y = data
        x = (
            x if x.dtype == np.uint8 else np.asarray(x, np.float32)
        )  # uint8 pixels stay uint8 (4 times less memory)
        y = np.asarray(y, np.int64)
        order = batch_order(len(x), batch_size, shuffle_buffer, data_seed).batch(size).take(count)
        order = [chunk.numpy() for chunk in order]  # now, while the global seed is data_seed
        return ((scale_images(x[chunk]), y[chunk]) for chunk in order)
    if not callable(data):
        raise TypeError(
            "data must be (x, y) arrays for the article's pipeline or a function returning a "
            f"tf.data.Dataset, got {type(data).__name__}"
        )
    dataset = data()
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"data() must return a tf.data.Dataset, got {type(dataset).__name__}")
    spec = dataset.element_spec
    if not (
        isinstance(spec, tuple)
        and len(spec) == 2
        and spec[0].shape.rank == 3
        and spec[1].shape.rank == 1
    ):
        raise ValueError(
            "data must yield (x, y) batches with x of shape (batch, time, features) and y of shape "
            f"(batch,), got element_spec {spec}"
        )
    return (
        (xs.numpy(), ys.numpy()) for xs, ys in dataset.batch(size, drop_remainder=True).take(count)
    )


def draw_batches(
    data, steps: int, data_seed: int = 0, batch_size: int = 32, shuffle_buffer: int = 5000
):
    """``(xs, ys)``: the first ``steps`` batches ``train`` uses with these arguments (to check against
    ``model.fit``), shapes ``(steps, batch, time, features)`` and ``(steps, batch)``."""
    steps = checks.positive_int("steps", steps)
    data_seed = checks.positive_int("data_seed", data_seed, minimum=0)
    batch_size = checks.positive_int("batch_size", batch_size)
    shuffle_buffer = checks.positive_int("shuffle_buffer", shuffle_buffer)
    return next(iter(_chunks(check_data(data), data_seed, batch_size, shuffle_buffer, steps, 1)))


def train(
    settings: Setting | Sequence[Setting],
    data,
    steps: int,
    *,
    data_seed: int = 0,
    batch_size: int = 32,
    shuffle_buffer: int = 5000,
    model: Callable | None = None,
    loss: str = "sparse_categorical_crossentropy",
    engine: str = "auto",
    chunk: int = 25,
    progress: bool = True,
    on_chunk: Callable[[int], bool | None] | None = None,
) -> History | list[History]:
    """Train every setting for ``steps`` steps on the same batches.

    Args:
        settings: a ``Setting`` or a sequence of them.
        data: ``(x_train, y_train)`` (floats or uint8 pixels) for the article's pipeline
            (``helpers.data.fashion_mnist_pipeline``), or a function returning a ``tf.data.Dataset`` of batches.
        steps: steps to train.
        data_seed: sets the batch order, and only it.
        batch_size, shuffle_buffer: the article pipeline's.
        model: a function returning a new Keras model (default ``helpers.models.article_lstm``), given
            ``seed=setting.seed`` if it takes a ``seed`` (Keras is seeded with it either way).
        loss: a classifier's, or ``"mse"`` (one output unit, float targets; accuracy is NaN).
        engine: ``"vectorized"`` (``helpers.engines``), ``"keras"``, or ``"auto"`` (vectorized when it can).
        chunk: steps per compiled call (25: the same numbers as longer chunks, as fast, and a peak ~140 MB
            lower with full-size data than 100; ``benchmarks/chunk_size.py``).
        progress: show a progress bar.
        on_chunk: called as ``on_chunk(steps_done)`` after each chunk; returning ``False`` stops the run.

    Returns:
        One ``History`` for one ``Setting``, else a list of them in the order of ``settings``.
    """
    single = isinstance(settings, Setting)
    settings = _setting_list(settings)
    data_seed = checks.positive_int("data_seed", data_seed, minimum=0)
    histories = _train(
        settings,
        [data_seed] * len(settings),
        data,
        steps,
        batch_size,
        shuffle_buffer,
        model,
        loss,
        engine,
        chunk,
        progress,
        on_chunk,
    )
    return histories[0] if single else histories


def check_data(data, model: Callable | None = None, loss: str = "sparse_categorical_crossentropy"):
    """``train``'s ``data`` checked: ``(x_train, y_train)`` as images ``(n, 28, 28)`` and labels of the model's
    classes (``helpers.checks.labelled_data``; any number for ``"mse"``); a dataset function is returned unchanged."""
    if not (isinstance(data, tuple | list) and len(data) == 2):
        return data
    model = article_lstm if model is None else model
    classes = _prepare(model, "auto").outputs if loss == "sparse_categorical_crossentropy" else None
    return checks.labelled_data(
        data[0],
        data[1],
        classes=classes,
        x_name="data[0] (x_train)",
        y_name="data[1] (y_train)",
        x_shape=(None, 28, 28),
    )


def _setting_list(settings) -> list[Setting]:
    """``settings`` (a ``Setting`` or a non-empty sequence of them) as a list."""
    if isinstance(settings, Setting):
        settings = [settings]
    if isinstance(settings, str | bytes) or not isinstance(settings, Sequence):
        raise TypeError(
            f"settings must be a Setting or a sequence of Settings, got {type(settings).__name__}"
        )
    settings = list(settings)
    if not settings:
        raise ValueError("settings must hold at least one Setting, got an empty sequence")
    for i, s in enumerate(settings):
        if not isinstance(s, Setting):
            raise TypeError(f"settings[{i}] must be a Setting, got {type(s).__name__}")
    return settings


def _train(
    settings,
    data_seeds,
    data,
    steps,
    batch_size=32,
    shuffle_buffer=5000,
    model=None,
    loss="sparse_categorical_crossentropy",
    engine="auto",
    chunk=25,
    progress=True,
    on_chunk=None,
):
    """``train`` with ``settings[i]`` on the batches of ``data_seeds[i]``, one ``History`` per setting."""
    steps = checks.positive_int("steps", steps)
    batch_size = checks.positive_int("batch_size", batch_size)
    shuffle_buffer = checks.positive_int("shuffle_buffer", shuffle_buffer)
    chunk = checks.positive_int("chunk", chunk)
    checks.one_of("engine", engine, ENGINES)
    checks.one_of("loss", loss, LOSSES)
    model = article_lstm if model is None else model
    if not callable(model):
        raise TypeError(
            f"model must be a function returning a Keras model, got {type(model).__name__}"
        )
    if on_chunk is not None and not callable(on_chunk):
        raise TypeError(f"on_chunk must be callable or None, got {type(on_chunk).__name__}")
    started = time.perf_counter()
    engine = _prepare(model, engine)
    if loss == "mse" and engine.outputs != 1:
        raise ValueError(
            f"loss='mse' needs a model with one output unit, this one has {engine.outputs}"
        )
    data = check_data(data, model, loss)
    size = min(chunk, steps)
    sources = {
        seed: iter(_chunks(data, seed, batch_size, shuffle_buffer, size, -(-steps // size)))
        for seed in dict.fromkeys(data_seeds)
    }
    blocks = [
        _Block(settings, members, data_seeds[members[0]], engine, model, loss)
        for members in _blocks(settings, data_seeds)
    ]
    bar = tqdm(
        total=steps,
        desc=f"training {len(settings)} setting{'s' * (len(settings) > 1)}",
        unit="step",
        disable=not progress,
    )
    with bar, _own_numerics():
        done = _run_chunks(blocks, sources, steps, size, bar, on_chunk)
    seconds = time.perf_counter() - started
    histories = [None] * len(settings)
    for block in blocks:
        for i, history in block.histories(settings, steps, done, seconds):
            histories[i] = history
    _return_freed_memory()
    return histories


def _run_chunks(blocks: list[_Block], sources: dict, steps: int, size: int, bar, on_chunk) -> int:
    """The steps done when the running ``blocks`` have stepped chunks of ``size`` (from ``sources``:
    ``{data_seed: _chunks}``) until ``steps``, every setting stopped or ``on_chunk`` returned False."""
    done = 0
    workers = min(len(blocks), THREADS)
    pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def draw(seed):
        chunk_data = next(sources[seed], None)
        if chunk_data is None:
            raise ValueError(
                f"data ran out after {done} steps: training needs {steps} batches, drawn in whole "
                f"chunks of {size}; make data() endless (dataset.repeat()) or ask for fewer steps"
            )
        return chunk_data

    try:
        while done < steps:
            n = min(size, steps - done)
            running = sorted(
                (block for block in blocks if block.running), key=lambda block: block.data_seed
            )
            if (
                pool is None or done == 0
            ):  # the first chunk compiles: one XLA compile (~300 MB) at a time,
                batches = {}  # with one data seed's batches in memory
                for block in running:
                    if block.data_seed not in batches:
                        batches = {block.data_seed: draw(block.data_seed)}
                    block.advance(batches, n, done)
            else:
                batches = {
                    seed: draw(seed) for seed in dict.fromkeys(block.data_seed for block in running)
                }
                for future in [pool.submit(block.advance, batches, n, done) for block in running]:
                    future.result()
            done += n
            bar.update(n)
            if not any(block.running for block in blocks):
                break
            if on_chunk is not None and on_chunk(done) is False:
                break
    finally:
        if pool is not None:
            pool.shutdown()
    return done


def _return_freed_memory() -> None:
    """Give the heap XLA freed back to the system (glibc's ``malloc_trim``): an idle kernel holds ~130 MB less."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (AttributeError, OSError):  # not glibc (e.g. musl)
            pass


def keras_optimizer(setting: Setting):
    """The Keras optimizer ``setting`` stands for, clipping by its ``helpers.clipping.KERAS_ARGUMENT``."""
    if not isinstance(setting, Setting):
        raise TypeError(f"setting must be a Setting, got {type(setting).__name__}")
    if setting.mode not in clipping.KERAS_ARGUMENT and setting.mode != "none":
        raise ValueError(f"Keras optimizers have no argument for mode={setting.mode!r}")
    kwargs = {"learning_rate": setting.learning_rate}
    if setting.mode != "none":
        kwargs[clipping.KERAS_ARGUMENT[setting.mode]] = setting.threshold
    if setting.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=setting.momentum, **kwargs)
    if setting.optimizer == "adam":
        return keras.optimizers.Adam(
            beta_1=ADAM_BETA_1, beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON, **kwargs
        )
    return keras.optimizers.RMSprop(rho=RMSPROP_RHO, epsilon=RMSPROP_EPSILON, **kwargs)


def keras_model(history: History, model: Callable | None = None):
    """A Keras model (from ``model``, default ``helpers.models.article_lstm``) holding ``history``'s final weights."""
    if not isinstance(history, History):
        raise TypeError(f"history must be a History, got {type(history).__name__}")
    built = _build(article_lstm if model is None else model)
    if len(built.trainable_variables) != len(history.weights):
        raise ValueError(
            "model does not match the weights in history (different number of trainable variables)"
        )
    for variable, value in zip(built.trainable_variables, history.weights):
        variable.assign(value)
    return built


def evaluate(
    history: History, x, y, model: Callable | None = None, batch_size: int = 10_000
) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``keras_model(history, model)`` on images ``x`` (uint8 pixels are scaled) and
    labels ``y``, ``batch_size`` examples per call."""
    batch_size = checks.positive_int("batch_size", batch_size)
    built = keras_model(history, model)
    x, y = checks.labelled_data(
        x, y, classes=built.output_shape[-1], x_shape=(None, *built.input_shape[1:])
    )
    batches = (
        scale_images(x[i : i + batch_size]).astype(np.float32, copy=False)
        for i in range(0, len(x), batch_size)
    )
    probabilities = np.concatenate([np.asarray(built(batch, training=False)) for batch in batches])
    loss = float(np.mean(keras.losses.sparse_categorical_crossentropy(y, probabilities)))
    accuracy = float(np.mean(np.argmax(probabilities, axis=-1) == y))
    return loss, accuracy


def held_out_accuracy(
    runs, x, y, model: Callable | None = None, batch_size: int = 8192
) -> np.ndarray:
    """The accuracy on images ``x`` (uint8 pixels are scaled) and labels ``y`` of each run's final weights (NaN
    where the run diverged): ``evaluate``'s accuracy for many runs as one batched computation, ``batch_size``
    (runs x images) at a time, which bounds its memory. ``runs``: a ``SeedRuns`` (result per setting and seed) or
    a sequence of ``History`` (one result each)."""
    if isinstance(runs, SeedRuns):
        flat = held_out_accuracy(
            [h for row in runs.histories for h in row], x, y, model, batch_size
        )
        return flat.reshape(len(runs.settings), len(runs.seeds))
    if isinstance(runs, str | bytes) or not isinstance(runs, Sequence) or not runs:
        raise TypeError(
            f"runs must be a SeedRuns or a non-empty sequence of History, got {type(runs).__name__}"
        )
    if not all(isinstance(h, History) for h in runs):
        raise TypeError("runs must hold History objects only")
    batch_size = checks.positive_int("batch_size", batch_size)
    engine = _prepare(article_lstm if model is None else model, "auto")
    x, y = checks.labelled_data(x, y, classes=engine.outputs, x_shape=(None, 28, 28))
    weights = [tf.constant(np.stack(ws)) for ws in zip(*[h.weights for h in runs])]
    correct, step = np.zeros(len(runs)), max(1, batch_size // len(runs))
    for i in range(0, len(x), step):
        images = scale_images(x[i : i + step]).astype(np.float32, copy=False)
        _, _, accuracy = engine.probabilities_and_loss(weights, images, y[i : i + step])
        correct += accuracy.numpy().astype(np.float64) * len(images)
    return np.where([h.diverged for h in runs], np.nan, correct / len(x))


def verdict(losses, reference) -> str:
    """How many seeds agree that ``losses`` end lower than ``reference`` (paired by seed; ``inf``: diverged), in
    words: ``"lower in 5/5 seeds"``, ``"higher in 5/5 seeds"`` or ``"lower in 2/5 seeds only: not separable"``."""
    losses, reference = np.asarray(losses, np.float64), np.asarray(reference, np.float64)
    if losses.shape != reference.shape or losses.ndim != 1 or not losses.size:
        raise ValueError(
            f"losses and reference must be two lists of one final loss per seed, got shapes "
            f"{losses.shape} and {reference.shape}"
        )
    wins, n = int(np.sum(losses < reference)), losses.size
    if wins == n or np.all(losses > reference):
        return f"{'lower' if wins == n else 'higher'} in {n}/{n} seeds"
    return f"lower in {wins}/{n} seeds only: not separable with {n} seeds"


def _seed_list(seeds) -> tuple[int, ...]:
    """``seeds`` as a tuple of distinct ints >= 0 (an int ``n`` means ``0 .. n-1``)."""
    if isinstance(seeds, bool):
        raise TypeError(f"seeds must be a number of seeds or a sequence of ints, got {seeds!r}")
    if isinstance(seeds, int | np.integer):
        return tuple(range(checks.positive_int("seeds", seeds)))
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Sequence | np.ndarray):
        raise TypeError(
            f"seeds must be a number of seeds or a sequence of ints, got {type(seeds).__name__}"
        )
    result = tuple(checks.positive_int(f"seeds[{i}]", s, minimum=0) for i, s in enumerate(seeds))
    if not result:
        raise ValueError("seeds must hold at least one seed, got an empty sequence")
    if len(set(result)) != len(result):
        raise ValueError(f"seeds must be distinct, got {list(result)}")
    return result


@dataclass(frozen=True, eq=False)
class SeedRuns:
    """``train_seeds``'s result: ``histories[i][j]`` is ``settings[i]`` trained with seed ``seeds[j]``."""

    settings: tuple
    seeds: tuple
    histories: list

    def final_losses(self, window: int = 50) -> np.ndarray:
        """``History.final_loss(window)`` per setting and seed (``inf`` where diverged)."""
        return np.array(
            [[h.final_loss(window) for h in row] for row in self.histories], dtype=np.float64
        )

    def diverged(self) -> np.ndarray:
        """Whether each run diverged, per setting and seed."""
        return np.array([[h.diverged for h in row] for row in self.histories], dtype=bool)

    @classmethod
    def join(cls, *runs: SeedRuns) -> SeedRuns:
        """One ``SeedRuns`` of the settings of several, trained with the same seeds."""
        if not runs or not all(isinstance(r, SeedRuns) for r in runs):
            raise TypeError("join takes one or more SeedRuns")
        if any(r.seeds != runs[0].seeds for r in runs):
            raise ValueError(f"runs must share their seeds, got {[list(r.seeds) for r in runs]}")
        return cls(
            sum((r.settings for r in runs), ()),
            runs[0].seeds,
            [row for r in runs for row in r.histories],
        )

    def verdict(self, i: int, reference: int = 0, window: int = 50) -> str:
        """``verdict`` of setting ``i``'s final losses against setting ``reference``'s, seed by seed."""
        i, reference = self._index("i", i), self._index("reference", reference)
        losses = self.final_losses(window)
        return verdict(losses[i], losses[reference])

    def _index(self, name: str, index) -> int:
        n = len(self.settings)
        return checks.positive_int(name, index, minimum=-n, maximum=n - 1) % n

    def wins(self, i: int, reference: int = 0, window: int = 50) -> int:
        """Seeds in which setting ``i``'s final loss is below setting ``reference``'s (a diverged run never wins)."""
        i, reference = self._index("i", i), self._index("reference", reference)
        losses = self.final_losses(window)
        return int(np.sum(losses[i] < losses[reference]))

    def summary(self, reference: int = 0, window: int = 50, labels=None, held_out=None) -> str:
        """A text table: per setting the final loss's mean ± sd (n-1) and range over the seeds that did not diverge,
        diverged k/n, wins against ``reference`` k/n, and (given ``held_out``, e.g. ``held_out_accuracy(runs, x_test,
        y_test)``) the held-out accuracy's mean ± sd."""
        reference = self._index("reference", reference)
        if labels is None:
            labels = [s.label for s in self.settings]
        labels = [str(label) for label in labels]
        if len(labels) != len(self.settings):
            raise ValueError(
                f"labels must have one entry per setting ({len(self.settings)}), got {len(labels)}"
            )
        losses = self.final_losses(window)
        n = len(self.seeds)
        if held_out is not None and np.shape(held_out) != losses.shape:
            raise ValueError(
                f"held_out must hold one accuracy per setting and seed {losses.shape}, "
                f"got shape {np.shape(held_out)}"
            )
        rows = []
        for i, label in enumerate(labels):
            finite = losses[i][np.isfinite(losses[i])]
            spread = f"{finite.min():.3g}–{finite.max():.3g}" if finite.size else "–"
            wins = "reference" if i == reference else f"{self.wins(i, reference, window)}/{n}"
            row = [
                label,
                mean_sd(finite, "{:.3g}"),
                spread,
                f"{int(np.sum(~np.isfinite(losses[i])))}/{n}",
                wins,
            ]
            if held_out is not None:
                accuracy = np.asarray(held_out[i], np.float64)
                row.append(mean_sd(accuracy[np.isfinite(accuracy)], "{:.3f}"))
            rows.append(tuple(row))
        header = [
            "setting",
            f"final loss mean ± sd (n={n} seeds)",
            "min–max",
            "diverged",
            f"lower than {labels[reference]!r}",
        ]
        if held_out is not None:
            header.append("held-out accuracy")
        widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
        lines = [
            " | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in [header, *rows]
        ]
        lines.insert(1, "-+-".join("-" * w for w in widths))
        note = f"final loss: mean training loss of the last {window} steps; mean ± sd over the seeds not diverged"
        return "\n".join([*lines, note])


def mean_sd(values, fmt: str = "{:.3g}") -> str:
    """``"mean ± sd"`` (sd with n - 1) of ``values``, ``"mean ± n/a"`` for one value, ``"all diverged"`` for none."""
    values = np.asarray(values, np.float64)
    if not values.size:
        return "all diverged"
    sd = fmt.format(np.std(values, ddof=1)) if values.size > 1 else "n/a"
    return f"{fmt.format(np.mean(values))} ± {sd}"


def train_seeds(
    settings: Setting | Sequence[Setting], data, steps: int, seeds=5, **train_kwargs
) -> SeedRuns:
    """A ``SeedRuns``: every setting trained once per seed (``n`` means ``0 .. n-1``); seed ``s`` sets both the
    initial weights (``Setting.seed``) and the batch order (``data_seed``). ``data``, ``steps``, ``train_kwargs``:
    as for ``train``."""
    settings = tuple(_setting_list(settings))
    seeds = _seed_list(seeds)
    pairs = [(i, seed) for seed in seeds for i in range(len(settings))]
    trained = train_runs(
        [replace(settings[i], seed=seed) for i, seed in pairs], data, steps, **train_kwargs
    )
    histories = [[None] * len(seeds) for _ in settings]
    for (i, seed), history in zip(pairs, trained):
        histories[i][seeds.index(seed)] = history
    return SeedRuns(settings, seeds, histories)


def train_runs(
    settings: Sequence[Setting], data, steps: int, reuse=(), **train_kwargs
) -> list[History]:
    """One ``History`` per setting, each run with its own ``Setting.seed`` for the initial weights and the batch order
    (as ``train_seeds`` does), all in one call; ``data``, ``steps``, ``train_kwargs``: as for ``train``. ``reuse``:
    ``SeedRuns`` or lists of ``History`` already trained on the same data for ``steps`` steps; a setting found there
    is taken, not trained again (a setting's numbers do not depend on what it was trained with)."""
    settings = _setting_list(settings)
    if "data_seed" in train_kwargs:
        raise TypeError(
            "train_runs and train_seeds set data_seed from each seed; do not pass data_seed"
        )
    known = {}
    for runs in reuse:
        for h in [h for row in runs.histories for h in row] if isinstance(runs, SeedRuns) else runs:
            if not isinstance(h, History):
                raise TypeError(
                    f"reuse must hold SeedRuns or lists of History, got {type(h).__name__}"
                )
            if h.steps_requested == steps:
                known[h.setting] = h
    missing = [s for s in dict.fromkeys(settings) if s not in known]
    if missing:
        known.update(
            zip(missing, _train(missing, [s.seed for s in missing], data, steps, **train_kwargs))
        )
    return [known[s] for s in settings]
