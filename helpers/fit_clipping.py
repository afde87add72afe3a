"""Clipping for ``model.fit``, in the right place, with its log (notebook 06): take-home tools for any Keras model.

``clipping_optimizer(optimizer, mode, threshold)`` copies a Keras optimizer so that it clips with the rule of
``mode`` (any of ``helpers.training.rules()``) the gradient that is actually applied, and records each update's
pre-clip global norm and whether the rule changed the gradient. It clips:

- after the loss scale is divided out: wrap it, ``keras.optimizers.LossScaleOptimizer(clipping_optimizer(...))``;
- after gradient accumulation (``gradient_accumulation_steps=k``: Keras averages the ``k`` micro-batch gradients,
  then calls the update, where the rule runs);
- after the replicas' gradients are summed (``MirroredStrategy``, ``MultiWorkerMirroredStrategy``), where Keras's
  own ``clipnorm``/``global_clipnorm`` clip each replica's partial gradient *before* the all-reduce.

How: it overrides the one method that receives the final gradient, TensorFlow-Keras's private
``_backend_update_step`` (Keras 3.15, pinned by ``tests/test_framework_facts.py``), to all-reduce, clip, record
and update. ``NormLog`` is the callback that reads the record; ``read_scalars`` reads its TensorBoard files back::

    model.compile(optimizer=clipping_optimizer(keras.optimizers.Adam(1e-3), "global_norm", 1.0), loss=...)
    log = NormLog("logs/run1")
    model.fit(x, y, callbacks=[log])
    log.grad_norm, log.clipped_fraction
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2
from tensorflow.core.util import event_pb2

from helpers import clipping, training

#: Marks a summary as a TensorBoard scalar, as ``tf.summary.scalar`` does (writing needs no ``tensorboard`` package).
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
).SerializeToString()


class _ClipAfterAggregation:
    """Mixin for a Keras optimizer class: all-reduce, clip, record, update. ``clipping_optimizer`` sets
    ``_clip_rule`` (a ``helpers.training.ClipRule``), ``_clip_threshold`` and ``_clip_context``."""

    def build(self, variables):
        super().build(variables)
        size = max(self._clip_rule.state_size, 1)
        # written in replica context with identical values on every replica: keep the first replica's
        for name, shape, dtype in (
            ("clip_state", (size,), "float32"),
            ("pre_clip_norm", (), "float32"),
            ("was_clipped", (), "float32"),
            ("clip_updates", (), "int64"),
        ):
            setattr(self, name, self.add_variable(shape, dtype=dtype, aggregation="only_first_replica", name=name))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        variables = [v.value if isinstance(v, keras.Variable) else v for v in trainable_variables]
        grads = list(grads)
        replica = tf.distribute.get_replica_context()
        if replica is not None and replica.num_replicas_in_sync > 1:
            grads = replica.all_reduce(tf.distribute.ReduceOp.SUM, grads)  # 1. aggregate
        rule, size = self._clip_rule, self._clip_rule.state_size
        threshold = tf.constant(self._clip_threshold, tf.float32)
        state = self.clip_state.value[:size]
        weights = [tf.convert_to_tensor(v) for v in variables]
        clipped, was_clipped, state = rule.clip(grads, threshold, weights, state, self._clip_context)  # 2. clip
        self.pre_clip_norm.assign(clipping.global_norm(grads))  # 3. record
        self.was_clipped.assign(tf.cast(was_clipped, tf.float32))
        self.clip_updates.assign_add(1)
        if size:
            self.clip_state.assign(tf.cast(state, tf.float32))
        # 4. update: TFOptimizer._backend_update_step without its all-reduce (the gradients are summed already)
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._distributed_tf_update_step,
            self._distribution_strategy,
            list(zip(clipped, variables)),
            learning_rate,
        )


_CLASSES: dict = {}


def clipping_optimizer(optimizer, mode: str, threshold: float | None = None, model=None):
    """A copy of ``optimizer`` (same class and config, fresh state) that clips and records (module docstring):
    ``.pre_clip_norm``, ``.was_clipped`` and ``.clip_updates`` hold the last update's record.

    Args:
        optimizer: a Keras optimizer that does not clip itself (else it would clip twice) and is not a
            ``LossScaleOptimizer`` (wrap the result in one instead).
        mode, threshold: a mode of ``helpers.training.rules()`` and its threshold (``None`` for ``"none"``).
        model: the Keras model, needed for ``"agc"`` (its last layer is left unclipped, as in the paper).
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(f"optimizer must be a Keras optimizer, got {type(optimizer).__name__}")
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        raise TypeError(
            "optimizer must not be a LossScaleOptimizer: wrap the result instead, "
            "LossScaleOptimizer(clipping_optimizer(inner, ...)), so that clipping sees unscaled gradients"
        )
    if isinstance(optimizer, _ClipAfterAggregation):
        raise TypeError("optimizer clips already (it came from clipping_optimizer): pass the plain optimizer")
    for name in clipping.KERAS_ARGUMENT.values():
        if getattr(optimizer, name, None):
            raise ValueError(
                f"optimizer has {name}={getattr(optimizer, name)!r}: Keras would clip too (per replica, before "
                "aggregation); leave it unset and give the rule to clipping_optimizer"
            )
    setting = training.Setting(mode, threshold)  # checks mode and threshold as the trainer does
    if model is None and mode == "agc":
        raise ValueError("mode='agc' needs model= (AGC leaves the model's last layer unclipped)")
    base = type(optimizer)
    if base not in _CLASSES:
        _CLASSES[base] = type(f"Clipping{base.__name__}", (_ClipAfterAggregation, base), {})
    new = _CLASSES[base].from_config(optimizer.get_config())
    new._clip_rule = training.rules()[mode]
    new._clip_threshold = 1.0 if setting.threshold is None else float(setting.threshold)
    new._clip_context = {"final_layer": () if model is None else tuple(clipping.last_layer(model))}
    return new


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
    ``clipping_optimizer`` after every step and written into

    - the batch logs, ``"grad_norm"`` and ``"clipped"`` (other callbacks see them);
    - the epoch logs and so Keras's ``History``: ``"clipped_fraction"`` of the epoch's updates, ``"grad_norm_max"``;
    - ``grad_norm``, ``clipped`` (arrays, one entry per update, so one per ``k`` steps with gradient accumulation)
      and ``clipped_fraction``;
    - with ``log_dir``, TensorBoard event files: scalars ``grad_norm`` and ``clipped`` at step = update number.
    """

    def __init__(self, log_dir: str | Path | None = None):
        super().__init__()
        if log_dir is not None and not isinstance(log_dir, str | Path):
            raise TypeError(f"log_dir must be a folder path or None, got {type(log_dir).__name__}")
        self.log_dir = None if log_dir is None else str(log_dir)
        self._norms: list[float] = []
        self._flags: list[bool] = []
        self._writer = None

    @property
    def grad_norm(self) -> np.ndarray:
        return np.array(self._norms, np.float32)

    @property
    def clipped(self) -> np.ndarray:
        return np.array(self._flags, bool)

    @property
    def clipped_fraction(self) -> float:
        return float(np.mean(self._flags)) if self._flags else float("nan")

    def on_train_begin(self, logs=None):
        self._optimizer = _clipping_part(self.model.optimizer)
        self._seen = self._updates()
        self._epoch_start = len(self._norms)
        if self.log_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def _updates(self) -> int:
        counter = getattr(self._optimizer, "clip_updates", None)
        return 0 if counter is None else int(counter.numpy())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = len(self._norms)

    def on_train_batch_end(self, batch, logs=None):
        updates = self._updates()
        if updates == self._seen:  # a micro-batch of gradient accumulation: no update yet
            return
        self._seen = updates
        norm = float(self._optimizer.pre_clip_norm.numpy())
        flag = bool(self._optimizer.was_clipped.numpy())
        self._norms.append(norm)
        self._flags.append(flag)
        if logs is not None:
            logs["grad_norm"], logs["clipped"] = norm, float(flag)
        if self._writer is not None:
            with self._writer.as_default():
                for tag, value in (("grad_norm", norm), ("clipped", float(flag))):
                    tf.summary.write(tag, tf.constant(value, tf.float32), step=updates, metadata=_SCALAR_METADATA)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        flags, norms = self._flags[self._epoch_start :], self._norms[self._epoch_start :]
        logs["clipped_fraction"] = float(np.mean(flags)) if flags else float("nan")
        logs["grad_norm_max"] = float(np.max(norms)) if norms else float("nan")

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()


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
                number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                found.setdefault(value.tag, []).append((event.step, number))
    result = {}
    for tag, pairs in found.items():
        pairs.sort(key=lambda pair: pair[0])
        result[tag] = (np.array([s for s, _ in pairs], np.int64), np.array([v for _, v in pairs], np.float64))
    if not result:
        raise ValueError(f"no scalar summaries found under {str(log_dir)!r}")
    return result
