"""The Keras/TensorFlow behaviours notebook 06 and ``helpers.fit_clipping`` rely on (Keras 3.15, TensorFlow 2.21).

If an upgrade changes one of them, these fail loudly: re-measure the notebook's claims and re-check the tools.

1. Under ``MirroredStrategy``, ``model.fit`` with ``global_clipnorm``/``clipnorm`` clips each replica's partial
   gradient before the all-reduce (measured on two logical CPU devices, in a subprocess).
2. ``gradient_accumulation_steps`` clips the averaged gradient once per update (not each micro-batch).
3. ``LossScaleOptimizer`` divides the loss scale out before its inner optimizer clips.
Plus the private hooks ``clipping_optimizer`` overrides, and that Keras's gradient accumulation does not run under
``MirroredStrategy`` at all.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_multiworker import run_case

from helpers import clipping


def linear_model():
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])


def linear_loss(y_true, y_pred):
    return y_pred[:, 0]  # per example: the gradient of the batch mean is the mean input


@pytest.fixture(scope="module")
def dense_facts():
    return run_case("dense_facts")


@pytest.mark.parametrize("argument", ["global_clipnorm", "clipnorm"])
def test_keras_clips_each_replica_before_the_all_reduce(dense_facts, argument):
    np.testing.assert_allclose(dense_facts[argument]["one"], [0.5**0.5, -(0.5**0.5)], rtol=1e-6)
    np.testing.assert_allclose(dense_facts[argument]["two"], [1.0, -1.0], rtol=1e-6)  # norm √2 × threshold


def test_clipping_after_aggregation_gives_the_one_device_update(dense_facts):
    result = dense_facts["clipping_optimizer"]
    np.testing.assert_allclose(result["two"], result["one"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(result["one"], [0.5**0.5, -(0.5**0.5)], rtol=1e-6)


def test_keras_gradient_accumulation_does_not_run_under_mirrored_strategy():
    result = run_case("accumulation_mirrored")
    assert not result["trains"] and "merge_call" in result["error"]


def test_gradient_accumulation_clips_the_averaged_gradient():
    x = np.array([[3.0, 0.0], [0.0, 4.0]], np.float32)  # micro-batch gradients [3, 0] and [0, 4]
    model = linear_model()
    model.compile(optimizer=keras.optimizers.SGD(1.0, global_clipnorm=1.0, gradient_accumulation_steps=2),
                  loss=linear_loss)  # fmt: skip
    model.fit(x, np.zeros((2, 1), np.float32), batch_size=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(model.get_weights()[0].ravel(), [-0.6, -0.8], rtol=1e-6)
    # the hand loop that clips each micro-batch gives a different update
    per_micro_batch = [clipping.clip_by_global_norm([tf.constant(g)], 1.0)[0][0].numpy() for g in x]
    np.testing.assert_allclose(-np.mean(per_micro_batch, axis=0), [-0.5, -0.5], rtol=1e-6)


def test_loss_scale_optimizer_unscales_before_the_inner_optimizer_clips():
    x = np.array([[0.3, 0.4]], np.float32)  # gradient of norm 0.5
    model = linear_model()
    inner = keras.optimizers.SGD(1.0, global_clipnorm=1.0)
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(inner, initial_scale=1024.0), loss=linear_loss)
    model.fit(x, np.zeros((1, 1), np.float32), batch_size=1, verbose=0)
    np.testing.assert_allclose(model.get_weights()[0].ravel(), [-0.3, -0.4], rtol=1e-6)  # applied unclipped
    assert float(model.optimizer.dynamic_scale.numpy()) == 1024.0


def test_the_hooks_clipping_optimizer_overrides_exist():
    from keras.src.backend.tensorflow.optimizer import TFOptimizer

    assert issubclass(type(keras.optimizers.SGD()), TFOptimizer)
    for name in ("_backend_update_step", "_distributed_tf_update_step", "_all_reduce_sum_gradients"):
        assert callable(getattr(TFOptimizer, name, None)), name
    assert callable(tf.__internal__.distribute.interim.maybe_merge_call)
