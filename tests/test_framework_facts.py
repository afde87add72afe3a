"""The Keras/TensorFlow behaviours notebook 06 and ``helpers.fit_clipping`` rely on (Keras 3.15, TensorFlow 2.21).

If an upgrade changes one of them, these fail loudly: re-measure the notebook's claims and re-check the tools.

1. Under ``MirroredStrategy``, ``model.fit`` with ``global_clipnorm``/``clipnorm`` clips each replica's partial
   gradient before the all-reduce (measured on two logical CPU devices, in a subprocess).
2. ``gradient_accumulation_steps`` clips the averaged gradient once per update (not each micro-batch).
3. ``LossScaleOptimizer`` divides the loss scale out before its inner optimizer clips.
4. Under ``MirroredStrategy`` ``LossScaleOptimizer`` decides "finite, apply" from the first replica's partial
   gradient only (``_tf_apply``): where another replica's loss overflows float16, the step is applied with inf in
   the sum and the weights turn NaN, while one device skips the step and trains. Under
   ``MultiWorkerMirroredStrategy`` each worker keeps its own replica's answer, and two workers that disagree
   deadlock (measured with a time limit, both workers killed afterwards).
Plus the private hooks ``clipping_optimizer`` overrides, and that Keras's gradient accumulation does not run under
``MirroredStrategy`` at all.
"""

from __future__ import annotations

import inspect
import time

import distributed_cases
import keras
import numpy as np
import pytest
import tensorflow as tf
from test_multiworker import TIMEOUT, run_case, start_workers, stop

from helpers import clipping


def linear_model():
    return keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )


def linear_loss(y_true, y_pred):
    return y_pred[:, 0]  # per example: the gradient of the batch mean is the mean input


@pytest.fixture(scope="module")
def dense_facts():
    return run_case("dense_facts")


@pytest.mark.parametrize("argument", ["global_clipnorm", "clipnorm"])
def test_keras_clips_each_replica_before_the_all_reduce(dense_facts, argument):
    np.testing.assert_allclose(dense_facts[argument]["one"], [0.5**0.5, -(0.5**0.5)], rtol=1e-6)
    np.testing.assert_allclose(
        dense_facts[argument]["two"], [1.0, -1.0], rtol=1e-6
    )  # norm √2 × threshold


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
    model.compile(
        optimizer=keras.optimizers.SGD(1.0, global_clipnorm=1.0, gradient_accumulation_steps=2),
        loss=linear_loss,
    )
    model.fit(x, np.zeros((2, 1), np.float32), batch_size=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(model.get_weights()[0].ravel(), [-0.6, -0.8], rtol=1e-6)
    # the hand loop that clips each micro-batch gives a different update
    per_micro_batch = [clipping.clip_by_global_norm([tf.constant(g)], 1.0)[0][0].numpy() for g in x]
    np.testing.assert_allclose(-np.mean(per_micro_batch, axis=0), [-0.5, -0.5], rtol=1e-6)


def test_loss_scale_optimizer_unscales_before_the_inner_optimizer_clips():
    x = np.array([[0.3, 0.4]], np.float32)  # gradient of norm 0.5
    model = linear_model()
    inner = keras.optimizers.SGD(1.0, global_clipnorm=1.0)
    model.compile(
        optimizer=keras.optimizers.LossScaleOptimizer(inner, initial_scale=1024.0), loss=linear_loss
    )
    model.fit(x, np.zeros((1, 1), np.float32), batch_size=1, verbose=0)
    np.testing.assert_allclose(
        model.get_weights()[0].ravel(), [-0.3, -0.4], rtol=1e-6
    )  # applied unclipped
    assert float(model.optimizer.dynamic_scale.numpy()) == 1024.0


def test_the_hooks_clipping_optimizer_overrides_exist():
    from keras.src.backend.tensorflow.optimizer import TFOptimizer

    assert issubclass(type(keras.optimizers.SGD()), TFOptimizer)
    for name in (
        "_backend_update_step",
        "_distributed_tf_update_step",
        "_all_reduce_sum_gradients",
    ):
        assert callable(getattr(TFOptimizer, name, None)), name
    assert callable(tf.__internal__.distribute.interim.maybe_merge_call)


@pytest.fixture(scope="module")
def mixed():
    return run_case("mixed_mirrored", "keras")


def test_keras_loss_scale_optimizer_applies_another_replicas_overflow(mixed):
    """mixed_float16, the loss overflowing float16 on the last of 3 replicas' shares in the first steps."""
    initial = distributed_cases.INITIAL_SCALE
    one, three = mixed["one"], mixed["three"]
    assert (
        all(one["finite"]) and one["scales"][0] == initial / 2
    )  # one device: step skipped, scale halved
    assert 0 < one["iterations"] < distributed_cases.MIXED_STEPS
    assert (
        three["replicas_equal"] and three["scales"][0] == initial
    )  # 3 replicas: step applied, scale kept
    assert not any(three["finite"])  # NaN weights from the first step on, plain SGD inside
    assert three["scales"][-1] < 1e-3 * initial  # then every gradient is NaN: the scale collapses
    clipping = mixed[
        "clipping_three"
    ]  # our clipping optimizer inside Keras's: the same, inf/NaN logged
    assert not any(clipping["finite"]) and not np.isfinite(clipping["norms"][0])


def test_keras_loss_scale_optimizer_keeps_the_first_replicas_answer():
    """The mechanism, in its source: with merge calls, the finite-check of each replica, then only the first."""
    source = "".join(
        inspect.getsource(keras.optimizers.LossScaleOptimizer._tf_apply).split()
    )  # no whitespace
    assert "strategy_supports_no_merge_call()" in source
    assert "call_for_each_replica(self.check_finite,args=(grads,))" in source
    assert "experimental_local_results(finite_per_replica)[0]" in source


HANG_SECONDS = (
    45  # our tool's workers run the whole case in about 6 s after step 0 starts (loaded machine)
)


def test_keras_loss_scale_optimizer_deadlocks_two_workers_that_disagree(tmp_path):
    """One worker's gradient overflows, the other's does not: neither finishes its first step in HANG_SECONDS."""
    processes, _, logs = start_workers(tmp_path, "mixed_worker", "keras")
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all("step 0 starts" in log.read_text() for log in logs):
            assert all(p.poll() is None for p in processes), [
                log.read_text()[-2000:] for log in logs
            ]
            assert time.monotonic() < deadline, "the workers did not reach their first step"
            time.sleep(1)
        time.sleep(HANG_SECONDS)
        assert all(p.poll() is None for p in processes), (
            "a worker ended: does Keras no longer deadlock here?"
        )
        assert not any("step 1 starts" in log.read_text() for log in logs)
    finally:
        stop(processes)
