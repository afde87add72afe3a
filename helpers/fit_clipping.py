"""Clipping for ``model.fit``, in the right place, with its log (notebook 06): take-home tools for any Keras model.

``clipping_optimizer(optimizer, mode, threshold)`` copies a Keras optimizer so that it clips with the rule of
``mode`` (any of ``helpers.clipping.rules()``) the gradient that is actually applied, and records each update's
pre-clip global norm and whether the rule changed the gradient. It clips:

- after the replicas' gradients are summed (``MirroredStrategy``, ``MultiWorkerMirroredStrategy``), where Keras's
  own ``clipnorm``/``global_clipnorm`` clip each replica's partial gradient *before* the all-reduce;
- after the loss scale is divided out: wrap it in this module's ``LossScaleOptimizer`` (Keras's arguments), which
  decides "inf/NaN: skip the step, halve the scale" on the summed gradient, the same on every replica (Keras 3.15's
  own decides from the first replica's partial gradient: right on one device only);
- after gradient accumulation (``gradient_accumulation_steps=k``: Keras averages the ``k`` micro-batch gradients,
  then calls the update, where the rule runs).

How: it overrides the one method that receives the final gradient, TensorFlow-Keras's private
``_backend_update_step`` (Keras 3.15, pinned by ``tests/test_framework_facts.py``), to all-reduce, (decide and
unscale,) clip, record and update. ``NormLog`` is the callback that reads the record; ``read_scalars`` reads its
TensorBoard files back::

    inner = clipping_optimizer(keras.optimizers.Adam(1e-3), "global_norm", 1.0)
    model.compile(optimizer=inner, loss=...)  # mixed_float16: optimizer=LossScaleOptimizer(inner)
    log = NormLog("logs/run1")
    model.fit(x, y, callbacks=[log])
    log.grad_norm, log.clipped_fraction
"""

from __future__ import annotations

import weakref
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2
from tensorflow.core.util import event_pb2

from helpers import checks, clipping

#: Marks a summary as a TensorBoard scalar, as ``tf.summary.scalar`` does (writing needs no ``tensorboard`` package).
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
).SerializeToString()


class _ClipAfterAggregation:
    """Mixin for a Keras optimizer class: all-reduce, (loss scaling: decide, unscale), clip, record, update.
    ``clipping_optimizer`` sets ``_clip_rule`` (a ``helpers.clipping.ClipRule``), ``_clip_threshold`` and
    ``_clip_context``; a ``LossScaleOptimizer`` of this module sets ``_loss_scale`` (a weak reference to itself)."""

    _loss_scale = None

    def build(self, variables):
        super().build(variables)
        size = max(self._clip_rule.state_size, 1)
        # written in replica context with identical values on every replica: keep the first replica's
        for name, shape, dtype in (
            ("clip_state", (size,), "float32"),
            ("pre_clip_norm", (), "float32"),
            ("was_clipped", (), "float32"),
            ("was_skipped", (), "float32"),
            ("clip_updates", (), "int64"),
        ):
            setattr(
                self,
                name,
                self.add_variable(shape, dtype=dtype, aggregation="only_first_replica", name=name),
            )

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        variables = [v.value if isinstance(v, keras.Variable) else v for v in trainable_variables]
        grads = list(grads)
        replica = tf.distribute.get_replica_context()
        if replica is not None and replica.num_replicas_in_sync > 1:
            grads = replica.all_reduce(tf.distribute.ReduceOp.SUM, grads)  # 1. aggregate
        scaler = None if self._loss_scale is None else self._loss_scale()
        finite = tf.constant(True)
        if (
            scaler is not None
        ):  # 2. the same decision on every replica, from the summed gradient; unscale
            finite = scaler.check_finite(grads)
            grads = [g / scaler.dynamic_scale.value for g in grads]
        rule, size = self._clip_rule, self._clip_rule.state_size
        threshold = tf.constant(self._clip_threshold, tf.float32)
        state = self.clip_state.value[:size]
        weights = [tf.convert_to_tensor(v) for v in variables]
        clipped, was_clipped, new_state = rule.clip(
            grads, threshold, weights, state, self._clip_context
        )  # 3. clip
        self.pre_clip_norm.assign(clipping.global_norm(grads))  # 4. record
        self.was_clipped.assign(tf.cast(tf.logical_and(was_clipped, finite), tf.float32))
        self.was_skipped.assign(tf.cast(tf.logical_not(finite), tf.float32))
        self.clip_updates.assign_add(1)
        if size:  # a skipped step leaves the rule's state (AutoClip's norm history) as it was
            self.clip_state.assign(tf.where(finite, tf.cast(new_state, tf.float32), state))
        # 5. update: TFOptimizer._backend_update_step without its all-reduce (the gradients are summed already)
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._update_unless_skipped,
            self._distribution_strategy,
            finite,
            list(zip(clipped, variables)),
            learning_rate,
            scaler,
        )

    def _update_unless_skipped(self, distribution, finite, grads_and_vars, learning_rate, scaler):
        if scaler is None:
            return self._distributed_tf_update_step(distribution, grads_and_vars, learning_rate)
        if tf.distribute.in_cross_replica_context():
            finite = distribution.experimental_local_results(finite)[
                0
            ]  # equal on every replica (see above)
        tf.cond(
            finite,
            lambda: self._distributed_tf_update_step(distribution, grads_and_vars, learning_rate),
            lambda: None,
        )
        scaler._next_scale(finite)
        # Keras's LossScaleOptimizer does not count a skipped step in the inner optimizer's iterations (Adam's bias
        # correction, schedules): undo the increment that follows, for the whole accumulation cycle if any
        cycle = self.gradient_accumulation_steps or 1
        self._iterations.assign_sub(tf.cast(tf.logical_not(finite), self._iterations.dtype) * cycle)


_CLASSES: dict = {}


def clipping_optimizer(optimizer, mode: str, threshold: float | None = None, model=None):
    """A copy of ``optimizer`` (same class and config, fresh state) that clips and records (module docstring):
    ``.pre_clip_norm``, ``.was_clipped``, ``.was_skipped`` (loss scaling) and ``.clip_updates`` hold the last
    update's record.

    Args:
        optimizer: a Keras optimizer that does not clip itself (else it would clip twice) and is not a
            ``LossScaleOptimizer`` (wrap the result in this module's instead).
        mode, threshold: a mode of ``helpers.clipping.rules()`` and its threshold (``None`` for ``"none"``).
        model: the Keras model, needed for ``"agc"`` (its last layer is left unclipped, as in the paper).
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(f"optimizer must be a Keras optimizer, got {type(optimizer).__name__}")
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        raise TypeError(
            "optimizer must not be a LossScaleOptimizer: wrap the result instead, "
            "fit_clipping.LossScaleOptimizer(clipping_optimizer(inner, ...)), so that clipping sees unscaled gradients"
        )
    if isinstance(optimizer, _ClipAfterAggregation):
        raise TypeError(
            "optimizer clips already (it came from clipping_optimizer): pass the plain optimizer"
        )
    for name in clipping.KERAS_ARGUMENT.values():
        if getattr(optimizer, name, None):
            raise ValueError(
                f"optimizer has {name}={getattr(optimizer, name)!r}: Keras would clip too (per replica, before "
                "aggregation); leave it unset and give the rule to clipping_optimizer"
            )
    threshold = clipping.check_threshold(mode, threshold)  # as the trainer checks them
    if model is None and mode == "agc":
        raise ValueError("mode='agc' needs model= (AGC leaves the model's last layer unclipped)")
    base = type(optimizer)
    if base not in _CLASSES:
        _CLASSES[base] = type(f"Clipping{base.__name__}", (_ClipAfterAggregation, base), {})
    new = _CLASSES[base].from_config(optimizer.get_config())
    new._clip_rule = clipping.rules()[mode]
    new._clip_threshold = clipping.threshold_value(threshold)
    new._clip_context = {"final_layer": () if model is None else tuple(clipping.last_layer(model))}
    return new


class LossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Keras's dynamic loss scaling (same arguments, same rule) around a ``clipping_optimizer``, right on several
    replicas too: the decision "a gradient is inf/NaN: skip this step and halve the scale" is taken on the
    all-reduced gradient, so it is the same on every replica and any replica's overflow skips the step everywhere;
    then unscale, clip, update. On one device: Keras's skips, scales and updates step for step. (Keras 3.15's own
    keeps the first replica's finite-check under ``MirroredStrategy`` and applies another replica's inf; under
    ``MultiWorkerMirroredStrategy`` two workers that disagree deadlock: ``tests/test_framework_facts.py``.) Under
    ``mixed_float16`` pass it to ``compile`` yourself: ``compile`` wraps any other optimizer in Keras's.

    With ``gradient_accumulation_steps`` the decision is taken once per update, on the averaged gradient (Keras's
    decides per micro-batch).
    """

    def __init__(
        self, inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps=2000, name=None, **kwargs
    ):
        if not isinstance(inner_optimizer, _ClipAfterAggregation):
            raise TypeError(
                "inner_optimizer must come from clipping_optimizer(...) (mode='none' for no clipping), got "
                f"{type(inner_optimizer).__name__}"
            )
        if inner_optimizer._loss_scale is not None and inner_optimizer._loss_scale() is not None:
            raise TypeError(
                "inner_optimizer is already inside a LossScaleOptimizer: make a new clipping_optimizer"
            )
        initial_scale = checks.positive("initial_scale", initial_scale)
        dynamic_growth_steps = checks.positive_int("dynamic_growth_steps", dynamic_growth_steps)
        super().__init__(inner_optimizer, initial_scale, dynamic_growth_steps, name=name, **kwargs)
        inner_optimizer._loss_scale = weakref.ref(self)  # a weak reference: not tracked, no cycle

    def apply(self, grads, trainable_variables=None):
        """The scaled gradients go to the inner optimizer, which all-reduces, decides, unscales, clips, updates."""
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        self.inner_optimizer.apply(grads, trainable_variables)

    def _next_scale(self, finite):
        """Keras's rule: skipped -> halve, counter 0; applied -> counter + 1, or double after
        ``dynamic_growth_steps`` applied steps in a row."""
        counter, scale = self.step_counter.value, self.dynamic_scale.value
        grow = tf.equal(counter, self.dynamic_growth_steps - 1)
        zero = tf.zeros_like(counter)
        self.step_counter.assign(tf.where(finite, tf.where(grow, zero, counter + 1), zero))
        self.dynamic_scale.assign(tf.where(finite, tf.where(grow, scale * 2.0, scale), scale * 0.5))


def _clipping_part(optimizer):
    """The ``clipping_optimizer`` inside ``optimizer`` (itself, or a LossScaleOptimizer's inner optimizer)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if not isinstance(inner, _ClipAfterAggregation):
        raise TypeError(
            "NormLog needs a model compiled with clipping_optimizer(...) (possibly inside a LossScaleOptimizer), "
            f"got {type(optimizer).__name__}"
        )
    return inner


class NormLog(keras.callbacks.Callback):
    """Per optimizer update, the pre-clip global norm and whether it was clipped, read from the model's
    ``clipping_optimizer`` after every step, and, under loss scaling (a ``LossScaleOptimizer``), whether the step
    was skipped (a non-finite gradient: its norm is inf or NaN, nothing applied) and the loss scale after it;
    written into

    - the batch logs, ``"grad_norm"``, ``"clipped"`` (and ``"skipped"``, ``"loss_scale"``): other callbacks see them;
    - the epoch logs and so Keras's ``History``: ``"clipped_fraction"`` of the epoch's applied updates,
      their ``"grad_norm_max"`` (and ``"skipped_steps"``);
    - ``grad_norm``, ``clipped``, ``skipped``, ``loss_scale`` (arrays, one entry per update, so one per ``k`` steps
      with gradient accumulation; ``loss_scale`` NaN without loss scaling) and ``clipped_fraction``;
    - with ``log_dir``, TensorBoard event files: those scalars at step = update number.
    """

    def __init__(self, log_dir: str | Path | None = None):
        super().__init__()
        if log_dir is not None and not isinstance(log_dir, str | Path):
            raise TypeError(f"log_dir must be a folder path or None, got {type(log_dir).__name__}")
        self.log_dir = None if log_dir is None else str(log_dir)
        self._records: list[
            tuple[float, bool, bool, float]
        ] = []  # norm, clipped, skipped, loss scale
        self._writer = None

    def _column(self, index: int, dtype) -> np.ndarray:
        return np.array([record[index] for record in self._records], dtype).reshape(-1)

    @property
    def grad_norm(self) -> np.ndarray:
        return self._column(0, np.float32)

    @property
    def clipped(self) -> np.ndarray:
        return self._column(1, bool)

    @property
    def skipped(self) -> np.ndarray:
        return self._column(2, bool)

    @property
    def loss_scale(self) -> np.ndarray:
        return self._column(3, np.float64)

    @property
    def clipped_fraction(self) -> float:
        """The fraction of the applied (not skipped) updates that were clipped."""
        return _clipped_fraction(self._records)

    def on_train_begin(self, logs=None):
        self._optimizer = _clipping_part(self.model.optimizer)
        scaling = isinstance(self.model.optimizer, keras.optimizers.LossScaleOptimizer)
        self._scaler = self.model.optimizer if scaling else None
        self._seen = self._updates()
        self._epoch_start = len(self._records)
        if self.log_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def _updates(self) -> int:
        counter = getattr(self._optimizer, "clip_updates", None)
        return 0 if counter is None else int(counter.numpy())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = len(self._records)

    def on_train_batch_end(self, batch, logs=None):
        updates = self._updates()
        if updates == self._seen:  # a micro-batch of gradient accumulation: no update yet
            return
        self._seen = updates
        norm = float(self._optimizer.pre_clip_norm.numpy())
        scale = float("nan") if self._scaler is None else float(self._scaler.dynamic_scale.numpy())
        if (
            self._optimizer._loss_scale is None
        ):  # Keras's LossScaleOptimizer: a skipped step never gets here
            skipped = False
        else:
            skipped = bool(self._optimizer.was_skipped.numpy())
        self._records.append((norm, bool(self._optimizer.was_clipped.numpy()), skipped, scale))
        values = {"grad_norm": norm, "clipped": float(self._records[-1][1])}
        if self._scaler is not None:
            values.update(skipped=float(skipped), loss_scale=scale)
        if logs is not None:
            logs.update(values)
        if self._writer is not None:
            with self._writer.as_default():
                for tag, value in values.items():
                    tf.summary.write(
                        tag, tf.constant(value, tf.float32), step=updates, metadata=_SCALAR_METADATA
                    )

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        records = self._records[self._epoch_start :]
        applied = [norm for norm, _, skipped, _ in records if not skipped]
        logs["clipped_fraction"] = _clipped_fraction(records)
        logs["grad_norm_max"] = float(np.max(applied)) if applied else float("nan")
        if self._scaler is not None:
            logs["skipped_steps"] = sum(skipped for _, _, skipped, _ in records)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()


def _clipped_fraction(records) -> float:
    flags = [clipped for _, clipped, skipped, _ in records if not skipped]
    return float(np.mean(flags)) if flags else float("nan")


def read_scalars(log_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every scalar in the TensorBoard event files under ``log_dir``: ``{tag: (steps, values)}``, sorted by step.
    (``tf.compat.v1.train.summary_iterator`` would log a deprecation warning, so the records are parsed here.)"""
    folder = Path(log_dir)
    if not folder.is_dir():
        raise ValueError(f"log_dir must be an existing folder, got {str(log_dir)!r}")
    found: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = (
                    float(tf.make_ndarray(value.tensor))
                    if value.HasField("tensor")
                    else value.simple_value
                )
                found.setdefault(value.tag, []).append((event.step, number))
    result = {}
    for tag, pairs in found.items():
        pairs.sort(key=lambda pair: pair[0])
        result[tag] = (
            np.array([s for s, _ in pairs], np.int64),
            np.array([v for _, v in pairs], np.float64),
        )
    if not result:
        raise ValueError(f"no scalar summaries found under {str(log_dir)!r}")
    return result
