"""Runs one training case in a fresh process and prints its result as JSON (used by the tests of notebook 06).

Logical devices must be configured before TensorFlow initialises, so every case that needs two CPU devices runs
here, in a subprocess: ``python tests/distributed_cases.py <case>``. Cases:

- ``dense_facts``: Keras's own ``global_clipnorm``/``clipnorm`` with ``model.fit`` on one device and on two replicas of
  ``MirroredStrategy`` (the Dense(1) example of issue 13), and ``clipping_optimizer`` on both.
- ``lstm_recipe``: the article's LSTM trained by ``model.fit`` with ``clipping_optimizer`` (global norm) on one
  device and on two replicas, and with Keras's ``global_clipnorm`` on two replicas; weights and per-update norms.
- ``accumulation_mirrored``: whether Keras's ``gradient_accumulation_steps`` trains under ``MirroredStrategy``.
- ``worker``: one worker of a ``MultiWorkerMirroredStrategy`` (reads ``TF_CONFIG``; arg: output file).
- ``mixed_mirrored``: ``mixed_float16`` with dynamic loss scaling, on one device and on 3 replicas, where the loss
  overflows float16 on the last replica only in the first steps (``mixed_batches``); arg: ``keras`` (Keras's
  ``LossScaleOptimizer``) or ``ours`` (``fit_clipping.LossScaleOptimizer``).
- ``mixed_worker``: the same data, one worker of two (args: ``keras`` or ``ours``, output file).
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

STEPS, BATCH, THRESHOLD, LEARNING_RATE = 6, 32, 0.1, 0.5


def two_cpus(count=2):
    """One-device strategy and a ``MirroredStrategy`` over ``count`` logical CPUs (before TensorFlow starts)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count
    )
    devices = [f"/cpu:{i}" for i in range(count)]
    return tf.distribute.OneDeviceStrategy("/cpu:0"), tf.distribute.MirroredStrategy(devices)


def dense_fit(strategy, optimizer_fn):
    """Dense(1, no bias) from zeros, mse, one global batch of 4 whose halves have gradients along different axes."""
    import keras
    import numpy as np

    x = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)
    y = np.array([[1], [1], [-1], [-1]], np.float32)
    with strategy.scope():
        model = keras.Sequential(
            [keras.Input((2,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
        )
        model.compile(optimizer=optimizer_fn(), loss="mse")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()[0].ravel().tolist()


def batches(steps=STEPS, batch=BATCH, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    xs = rng.random((steps, batch, 28, 28), dtype=np.float32)
    ys = rng.integers(0, 10, (steps, batch))
    return xs, ys


def lstm_fit(strategy, optimizer_fn, xs, ys, dataset=None):
    """The article's LSTM (seed 0) trained by model.fit on the global batches ``xs, ys``; weights and norms."""
    import keras
    import tensorflow as tf

    from helpers import fit_clipping, models

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = models.article_lstm()
        model.compile(optimizer=optimizer_fn(), loss="sparse_categorical_crossentropy")
    log = fit_clipping.NormLog()
    callbacks = [log] if isinstance(model.optimizer, fit_clipping._ClipAfterAggregation) else []
    if dataset is None:
        dataset = tf.data.Dataset.from_tensor_slices((xs, ys))
    model.fit(
        dataset, epochs=1, steps_per_epoch=len(xs), verbose=0, callbacks=callbacks, shuffle=False
    )
    return [w.tolist() for w in model.get_weights()], log.grad_norm.tolist()


def case_dense_facts():
    import keras

    from helpers import fit_clipping

    one, two = two_cpus()
    result = {}
    for name, make in {
        "global_clipnorm": lambda: keras.optimizers.SGD(1.0, global_clipnorm=1.0),
        "clipnorm": lambda: keras.optimizers.SGD(1.0, clipnorm=1.0),
        "clipping_optimizer": lambda: fit_clipping.clipping_optimizer(
            keras.optimizers.SGD(1.0), "global_norm", 1.0
        ),
    }.items():
        result[name] = {"one": dense_fit(one, make), "two": dense_fit(two, make)}
    return result


def case_lstm_recipe():
    import keras

    from helpers import fit_clipping

    one, two = two_cpus()
    xs, ys = batches()

    def ours():
        return fit_clipping.clipping_optimizer(
            keras.optimizers.SGD(LEARNING_RATE), "global_norm", THRESHOLD
        )

    def keras_own():
        return keras.optimizers.SGD(LEARNING_RATE, global_clipnorm=THRESHOLD)

    one_weights, one_norms = lstm_fit(one, ours, xs, ys)
    two_weights, two_norms = lstm_fit(two, ours, xs, ys)
    keras_weights, _ = lstm_fit(two, keras_own, xs, ys)
    return {
        "one": one_weights,
        "two": two_weights,
        "keras_two": keras_weights,
        "one_norms": one_norms,
        "two_norms": two_norms,
    }


def case_accumulation_mirrored():
    import keras

    _, two = two_cpus()
    try:
        dense_fit(
            two,
            lambda: keras.optimizers.SGD(1.0, global_clipnorm=1.0, gradient_accumulation_steps=2),
        )
    except Exception as error:  # noqa: BLE001 - the point is to report what Keras raises
        return {"trains": False, "error": f"{type(error).__name__}: {str(error)[:300]}"}
    return {"trains": True, "error": None}


def case_worker(output: str):
    """One worker of two (each reads its half of every global batch): the article's LSTM trained with
    ``clipping_optimizer`` in a ``strategy.run`` loop (Keras 3.15's ``model.fit`` fails to build its loss under
    ``MultiWorkerMirroredStrategy``: it averages a distributed batch eagerly)."""
    import keras
    import tensorflow as tf

    from helpers import fit_clipping, models

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    xs, ys = batches()
    # the global batches, in order; auto-sharding by DATA gives each worker its half of every global batch
    flat = tf.data.Dataset.from_tensor_slices((xs.reshape(-1, 28, 28), ys.reshape(-1))).batch(BATCH)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = strategy.experimental_distribute_dataset(flat.with_options(options))
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = models.article_lstm()
        optimizer = fit_clipping.clipping_optimizer(
            keras.optimizers.SGD(LEARNING_RATE), "global_norm", THRESHOLD
        )
        optimizer.build(model.trainable_variables)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            losses = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
            loss = tf.reduce_sum(losses) / BATCH  # this replica's share of the global batch mean
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)

    step = tf.function(lambda x, y: strategy.run(replica_step, args=(x, y)))
    norms = []
    for x, y in dataset:
        step(x, y)
        norms.append(float(optimizer.pre_clip_norm.numpy()))
    weights = [w.tolist() for w in model.get_weights()]
    with open(output, "w") as file:
        json.dump(
            {"weights": weights, "norms": norms, "replicas": strategy.num_replicas_in_sync}, file
        )
    return {"done": True}


# --- mixed precision: a loss that overflows float16 on one replica's share only -------------------------------
MIXED_STEPS, MIXED_BATCH, MIXED_LR, MIXED_THRESHOLD = 12, 30, 0.1, 0.5
RARE, RARE_BIAS = 9, -5.0  # the rare class and its initial softmax bias (probability about 7e-4)
INITIAL_SCALE, GROWTH_STEPS = 2.0**15, 4


def mixed_batches(steps=MIXED_STEPS, batch=MIXED_BATCH, seed=1):
    """Random pixels; labels 0-8 except the last example of every global batch, which is the rare class. The
    model rates it at about 7e-4, so the gradient of its loss, times the loss scale, overflows float16 (largest
    65504) on whichever replica holds it (the last one: ``MirroredStrategy`` splits a batch in order) at the
    first scales, while the other replicas' gradients stay finite."""
    import numpy as np

    rng = np.random.default_rng(seed)
    xs = rng.random((steps, batch, 28, 28), dtype=np.float32)
    ys = rng.integers(0, RARE, (steps, batch))
    ys[:, -1] = RARE
    return xs, ys


def mixed_model():
    """The article's LSTM (seed 0) in ``mixed_float16``, its softmax bias for the rare class set to ``RARE_BIAS``;
    the policy is back to float32 afterwards."""
    import keras
    import numpy as np

    from helpers import models

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        model = models.article_lstm()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    bias = model.layers[-1].bias
    bias.assign(bias.numpy() + RARE_BIAS * (np.arange(10) == RARE))
    return model


def mixed_optimizer(inner, clip=None):
    """SGD (``inner="plain"``), or our ``clipping_optimizer`` of it (``"clipping"``: global norm at ``clip``)."""
    import keras

    from helpers import fit_clipping

    sgd = keras.optimizers.SGD(MIXED_LR)
    if inner == "plain":
        return sgd
    return fit_clipping.clipping_optimizer(sgd, "none" if clip is None else "global_norm", clip)


def mixed_fit(strategy, scaler, inner, clip=None):
    """``model.fit`` of ``mixed_model`` on ``mixed_batches`` with ``scaler`` ("keras" or "ours") around ``inner``
    ("plain" SGD or our "clipping" SGD); per step the loss scale and finiteness, NormLog's record, the final
    weights, whether every replica holds the same weights, and the final loss on all batches in float32."""
    import keras
    import numpy as np
    import tensorflow as tf

    from helpers import fit_clipping, models

    xs, ys = mixed_batches()
    scalers = {
        "keras": keras.optimizers.LossScaleOptimizer,
        "ours": fit_clipping.LossScaleOptimizer,
    }
    with strategy.scope():
        model = mixed_model()
        optimizer = scalers[scaler](
            mixed_optimizer(inner, clip),
            initial_scale=INITIAL_SCALE,
            dynamic_growth_steps=GROWTH_STEPS,
        )
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    scales, finite = [], []

    class Steps(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            scales.append(float(optimizer.dynamic_scale.numpy()))
            finite.append(bool(all(np.isfinite(w).all() for w in model.get_weights())))

    callbacks = [Steps()]
    log = fit_clipping.NormLog() if inner == "clipping" else None
    callbacks += [log] if log else []
    model.fit(
        tf.data.Dataset.from_tensor_slices((xs, ys)),
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=callbacks,
    )
    copies = [
        [c.numpy() for c in strategy.experimental_local_results(v.value)] for v in model.weights
    ]
    same = all(all(np.array_equal(c[0], other, equal_nan=True) for other in c[1:]) for c in copies)
    plain = models.article_lstm()  # float32, to measure the final weights' loss
    plain.set_weights(model.get_weights())
    loss = keras.losses.sparse_categorical_crossentropy(
        ys.reshape(-1), plain(xs.reshape(-1, 28, 28))
    )
    result = {
        "scales": scales,
        "finite": finite,
        "replicas_equal": same,
        "loss": float(np.mean(loss)),
        "weights": [w.tolist() for w in model.get_weights()],
        "iterations": int(optimizer.iterations.numpy()),
    }
    if log is not None:
        result.update(
            norms=[float(n) for n in log.grad_norm],
            skipped=log.skipped.tolist(),
            clipped=log.clipped.tolist(),
            log_scales=log.loss_scale.tolist(),
        )
    return result


def case_mixed_mirrored(scaler: str):
    """``mixed_fit`` with ``scaler`` ("keras" or "ours") on one device and on 3 replicas."""
    one, three = two_cpus(3)
    clip = MIXED_THRESHOLD
    runs = {
        "keras": {
            "one": (one, "keras", "plain"),
            "three": (three, "keras", "plain"),
            "clipping_three": (three, "keras", "clipping", clip),
        },
        "ours": {
            "one": (one, "ours", "clipping"),
            "three": (three, "ours", "clipping"),
            "clipping_one": (one, "ours", "clipping", clip),
            "clipping_three": (three, "ours", "clipping", clip),
        },
    }[scaler]
    return {name: mixed_fit(*args) for name, args in runs.items()}


def case_mixed_worker(scaler: str, output: str):
    """One worker of two (``TF_CONFIG``) training ``mixed_model`` on ``mixed_batches`` in a ``strategy.run`` loop
    (``model.fit`` does not run under ``MultiWorkerMirroredStrategy`` in Keras 3.15: ``case_worker``), loss scaled
    by Keras's ``LossScaleOptimizer`` (``scaler="keras"``) or ours (``"ours"``), plain SGD inside. Writes per step
    the loss scale, whether the weights are finite and (ours) whether the step was skipped, and the weights."""
    import keras
    import numpy as np
    import tensorflow as tf

    from helpers import fit_clipping

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    xs, ys = mixed_batches()
    flat = tf.data.Dataset.from_tensor_slices((xs.reshape(-1, 28, 28), ys.reshape(-1))).batch(
        MIXED_BATCH
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = strategy.experimental_distribute_dataset(flat.with_options(options))
    scalers = {
        "keras": keras.optimizers.LossScaleOptimizer,
        "ours": fit_clipping.LossScaleOptimizer,
    }
    with strategy.scope():
        model = mixed_model()
        inner = "plain" if scaler == "keras" else "clipping"
        optimizer = scalers[scaler](
            mixed_optimizer(inner), initial_scale=INITIAL_SCALE, dynamic_growth_steps=GROWTH_STEPS
        )
        optimizer.build(model.trainable_variables)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            probabilities = tf.cast(model(x, training=True), tf.float32)  # as model.fit's loss does
            losses = keras.losses.sparse_categorical_crossentropy(y, probabilities)
            scaled = optimizer.scale_loss(
                tf.reduce_sum(losses) / MIXED_BATCH
            )  # this share of the batch mean
        optimizer.apply(tape.gradient(scaled, model.trainable_variables), model.trainable_variables)

    step = tf.function(lambda x, y: strategy.run(replica_step, args=(x, y)))
    record = {"scales": [], "finite": [], "skipped": [], "has_rare": []}
    for x, y in dataset:
        record["has_rare"].append(
            bool(np.any(strategy.experimental_local_results(y)[0].numpy() == RARE))
        )
        print(
            f"step {len(record['scales'])} starts", file=sys.stderr, flush=True
        )  # shows where a worker waits
        step(x, y)
        record["scales"].append(float(optimizer.dynamic_scale.numpy()))
        record["finite"].append(bool(all(np.isfinite(w).all() for w in model.get_weights())))
        if scaler == "ours":
            record["skipped"].append(bool(optimizer.inner_optimizer.was_skipped.numpy()))
    record.update(
        weights=[w.tolist() for w in model.get_weights()], replicas=strategy.num_replicas_in_sync
    )
    with open(output, "w") as file:
        json.dump(record, file)
    return {"done": True}


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    name, *args = sys.argv[1:]
    print("RESULT " + json.dumps(globals()[f"case_{name}"](*args)))
