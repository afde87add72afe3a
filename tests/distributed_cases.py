"""Runs one training case in a fresh process and prints its result as JSON (used by the tests of notebook 06).

Logical devices must be configured before TensorFlow initialises, so every case that needs two CPU devices runs
here, in a subprocess: ``python tests/distributed_cases.py <case>``. Cases:

- ``dense_facts``: Keras's own ``global_clipnorm``/``clipnorm`` with ``model.fit`` on one device and on two replicas of
  ``MirroredStrategy`` (the Dense(1) example of issue 13), and ``clipping_optimizer`` on both.
- ``lstm_recipe``: the article's LSTM trained by ``model.fit`` with ``clipping_optimizer`` (global norm) on one
  device and on two replicas, and with Keras's ``global_clipnorm`` on two replicas; weights and per-update norms.
- ``accumulation_mirrored``: whether Keras's ``gradient_accumulation_steps`` trains under ``MirroredStrategy``.
- ``worker``: one worker of a ``MultiWorkerMirroredStrategy`` (reads ``TF_CONFIG``; arg: output file).
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

STEPS, BATCH, THRESHOLD, LEARNING_RATE = 6, 32, 0.1, 0.5


def two_cpus():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return tf.distribute.OneDeviceStrategy("/cpu:0"), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def dense_fit(strategy, optimizer_fn):
    """Dense(1, no bias) from zeros, mse, one global batch of 4 whose halves have gradients along different axes."""
    import keras
    import numpy as np

    x = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)
    y = np.array([[1], [1], [-1], [-1]], np.float32)
    with strategy.scope():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
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
    model.fit(dataset, epochs=1, steps_per_epoch=len(xs), verbose=0, callbacks=callbacks, shuffle=False)
    return [w.tolist() for w in model.get_weights()], log.grad_norm.tolist()


def case_dense_facts():
    import keras

    from helpers import fit_clipping

    one, two = two_cpus()
    result = {}
    for name, make in {
        "global_clipnorm": lambda: keras.optimizers.SGD(1.0, global_clipnorm=1.0),
        "clipnorm": lambda: keras.optimizers.SGD(1.0, clipnorm=1.0),
        "clipping_optimizer": lambda: fit_clipping.clipping_optimizer(keras.optimizers.SGD(1.0), "global_norm", 1.0),
    }.items():
        result[name] = {"one": dense_fit(one, make), "two": dense_fit(two, make)}
    return result


def case_lstm_recipe():
    import keras

    from helpers import fit_clipping

    one, two = two_cpus()
    xs, ys = batches()

    def ours():
        return fit_clipping.clipping_optimizer(keras.optimizers.SGD(LEARNING_RATE), "global_norm", THRESHOLD)

    def keras_own():
        return keras.optimizers.SGD(LEARNING_RATE, global_clipnorm=THRESHOLD)

    one_weights, one_norms = lstm_fit(one, ours, xs, ys)
    two_weights, two_norms = lstm_fit(two, ours, xs, ys)
    keras_weights, _ = lstm_fit(two, keras_own, xs, ys)
    return {"one": one_weights, "two": two_weights, "keras_two": keras_weights,
            "one_norms": one_norms, "two_norms": two_norms}  # fmt: skip


def case_accumulation_mirrored():
    import keras

    _, two = two_cpus()
    try:
        dense_fit(two, lambda: keras.optimizers.SGD(1.0, global_clipnorm=1.0, gradient_accumulation_steps=2))
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
        optimizer = fit_clipping.clipping_optimizer(keras.optimizers.SGD(LEARNING_RATE), "global_norm", THRESHOLD)
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
        json.dump({"weights": weights, "norms": norms, "replicas": strategy.num_replicas_in_sync}, file)
    return {"done": True}


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    name, *args = sys.argv[1:]
    print("RESULT " + json.dumps(globals()[f"case_{name}"](*args)))
