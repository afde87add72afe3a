"""``helpers.fit_clipping`` against hand-written references: the instrumented trainer (``helpers.training.train``)
on the article's model, a plain ``GradientTape`` loop under loss scaling and gradient accumulation, TensorBoard files
read back, and bad input; ``fit_clipping.LossScaleOptimizer`` against Keras's on one device (step for step) and on
3 replicas (a subprocess: ``distributed_cases.py``). Keras's own behaviour on several devices is pinned in
``test_framework_facts.py``, two worker processes are in ``test_multiworker.py``."""

from __future__ import annotations

import dataclasses
import gc
import logging

import distributed_cases
import keras
import numpy as np
import pytest
import tensorflow as tf
from test_multiworker import run_case

from helpers import clipping, data, fit_clipping, models, training
from helpers.training import Setting

STEPS = 30


@pytest.fixture(scope="module")
def train_data():
    return data.load_fashion_mnist()[0]


def fit_tool(setting, xs, ys, log_dir=None, model_fn=models.article_lstm):
    """model.fit with clipping_optimizer(keras_optimizer(setting without clipping), setting's rule) and a NormLog."""
    keras.utils.set_random_seed(setting.seed)
    model = model_fn()
    plain = training.keras_optimizer(dataclasses.replace(setting, mode="none", threshold=None))
    optimizer = fit_clipping.clipping_optimizer(plain, setting.mode, setting.threshold, model=model)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    log = fit_clipping.NormLog(log_dir)
    history = model.fit(
        tf.data.Dataset.from_tensor_slices((xs, ys)),
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=[log],
    )
    return model, log, history


@pytest.mark.parametrize(
    "setting",
    [
        Setting("global_norm", 0.1, learning_rate=0.1),
        Setting("norm", 0.05, optimizer="adam", learning_rate=0.003),
        Setting("autoclip", 10.0, learning_rate=0.1, momentum=0.9),
        Setting("agc", 0.01, learning_rate=0.1),
    ],
    ids=lambda s: s.label,
)
def test_fit_logs_the_trainers_norms_for_the_same_setting_and_batches(train_data, setting):
    """Equal to float32 tolerance, not bit for bit: the trainer runs the model as one XLA-compiled batched
    computation, model.fit runs Keras's own LSTM kernels, so sums are taken in different orders."""
    history = training.train(setting, train_data, STEPS, progress=False)
    xs, ys = training.draw_batches(train_data, STEPS)
    model, log, _ = fit_tool(setting, xs, ys)
    assert log.grad_norm.shape == (STEPS,)
    np.testing.assert_allclose(log.grad_norm, history.grad_norm, rtol=1e-4)
    margin = (
        np.abs(history.grad_norm / setting.threshold - 1) > 1e-4
    )  # flags can only differ at a tie
    if setting.mode == "global_norm":
        np.testing.assert_array_equal(log.clipped[margin], history.clipped[margin])
    else:
        np.testing.assert_array_equal(log.clipped, history.clipped)
    for ours, theirs in zip(history.weights, model.trainable_variables, strict=True):
        theirs = theirs.numpy()
        assert np.abs(ours - theirs).max() <= 1e-5 * np.abs(theirs).max()


def small_model():
    return keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)]
    )


def tape_reference(mode, threshold, xs, ys, scale=1.0, accumulate=1, learning_rate=0.5):
    """The plain loop: loss × scale, gradients, ÷ scale, average ``accumulate`` micro-batches, clip, SGD step."""
    keras.utils.set_random_seed(0)
    model = small_model()
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables
    autoclip = clipping.AutoClip(threshold) if mode == "autoclip" else None
    norms, flags, total = [], [], None
    for i, (x, y) in enumerate(zip(xs, ys)):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x)) * scale
        grads = [g / scale for g in tape.gradient(loss, variables)]
        total = grads if total is None else [t + g for t, g in zip(total, grads)]
        if (i + 1) % accumulate:
            continue
        grads, total = [t / accumulate for t in total], None
        if mode == "autoclip":
            clipped, norm = autoclip(grads)
        elif mode == "agc":
            clipped, norm = clipping.agc(
                grads, variables, threshold, skip=clipping.last_layer(model)
            )
        else:
            clipped, norm = clipping.clip(grads, mode, threshold)
        if mode == "value":
            flags.append(max(float(tf.reduce_max(tf.abs(g))) for g in grads) > threshold)
        elif mode == "norm":
            flags.append(bool(tf.reduce_any(clipping.tensor_norms(grads) > threshold)))
        elif mode == "autoclip":
            flags.append(float(norm) > float(autoclip.last_threshold))
        elif mode == "global_norm":
            flags.append(float(norm) > threshold)
        else:  # "none" never, AGC: did it change a unit
            flags.append(any(bool(tf.reduce_any(a != g)) for a, g in zip(clipped, grads)))
        norms.append(float(norm))
        for v, g in zip(variables, clipped):
            v.assign_sub(learning_rate * g)
    return [v.numpy() for v in variables], np.array(norms), np.array(flags)


SCALERS = {"keras": keras.optimizers.LossScaleOptimizer, "ours": fit_clipping.LossScaleOptimizer}


def tool_run(mode, threshold, xs, ys, scale=None, accumulate=1, learning_rate=0.5, scaler="keras"):
    keras.utils.set_random_seed(0)
    model = small_model()
    sgd = keras.optimizers.SGD(
        learning_rate, gradient_accumulation_steps=accumulate if accumulate > 1 else None
    )
    optimizer = fit_clipping.clipping_optimizer(sgd, mode, threshold, model=model)
    if scale is not None:
        optimizer = SCALERS[scaler](optimizer, initial_scale=scale, dynamic_growth_steps=10**6)
    model.compile(
        optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    log = fit_clipping.NormLog()
    dataset = tf.data.Dataset.from_tensor_slices((xs, ys))
    model.fit(dataset, epochs=1, verbose=0, shuffle=False, callbacks=[log])
    return [v.numpy() for v in model.trainable_variables], log


@pytest.fixture(scope="module")
def small_batches():
    rng = np.random.default_rng(1)
    return 3 * rng.normal(size=(12, 8, 3)).astype(np.float32), rng.integers(0, 2, (12, 8))


RULES = [
    ("none", None),
    ("value", 0.05),
    ("norm", 0.3),
    ("global_norm", 0.3),
    ("autoclip", 50.0),
    ("agc", 0.05),
]


@pytest.mark.parametrize("mode, threshold", RULES)
@pytest.mark.parametrize(
    "scale, accumulate, scaler",
    [
        (None, 1, None),
        (2.0**12, 1, "keras"),
        (2.0**12, 1, "ours"),
        (None, 3, None),
        (2.0**12, 3, "keras"),
        (2.0**12, 3, "ours"),
    ],
    ids=["plain", "loss scale", "our loss scale", "accumulation", "both", "both, our loss scale"],
)
def test_every_rule_matches_the_tape_loop(
    small_batches, mode, threshold, scale, accumulate, scaler
):
    xs, ys = small_batches
    weights, log = tool_run(mode, threshold, xs, ys, scale, accumulate, scaler=scaler)
    expected, norms, flags = tape_reference(mode, threshold, xs, ys, scale or 1.0, accumulate)
    assert len(log.grad_norm) == len(xs) // accumulate
    np.testing.assert_allclose(log.grad_norm, norms, rtol=1e-5)
    np.testing.assert_array_equal(log.clipped, flags)
    if mode != "none":
        assert log.clipped.any()  # the threshold bites somewhere, so the test can tell rules apart
    for ours, theirs in zip(weights, expected, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_clipping_the_scaled_gradient_would_clip_at_c_times_s(small_batches):
    """The wrong hand loop (clip before unscaling) differs from the tool; the tool equals the right loop above."""
    xs, ys = small_batches
    right, _ = tool_run("global_norm", 0.3, xs, ys, scale=2.0**12)
    wrong, _, _ = tape_reference(
        "global_norm", 0.3 * 2.0**12, xs, ys
    )  # = clipping scaled gradients at c
    unclipped, _, _ = tape_reference("none", None, xs, ys)
    assert max(np.abs(a - b).max() for a, b in zip(right, wrong)) > 1e-3
    for a, b in zip(wrong, unclipped):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_tensorboard_and_history_hold_the_log(tmp_path, small_batches):
    xs, ys = small_batches
    keras.utils.set_random_seed(0)
    model = small_model()
    optimizer = fit_clipping.clipping_optimizer(keras.optimizers.SGD(0.5), "global_norm", 0.3)
    model.compile(
        optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    log = fit_clipping.NormLog(tmp_path)
    history = model.fit(
        xs.reshape(-1, 3),
        ys.reshape(-1),
        batch_size=8,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[log],
    )
    records = []  # read_scalars must not log (TensorFlow's deprecated summary_iterator warns once per process)
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    tf.get_logger().addHandler(handler)
    try:
        scalars = fit_clipping.read_scalars(tmp_path)
    finally:
        tf.get_logger().removeHandler(handler)
    assert not records, [record.getMessage()[:200] for record in records]
    steps, norms = scalars["grad_norm"]
    np.testing.assert_array_equal(steps, np.arange(1, 2 * len(xs) + 1))
    np.testing.assert_allclose(norms, log.grad_norm, rtol=1e-6)
    np.testing.assert_array_equal(scalars["clipped"][1].astype(bool), log.clipped)
    halves = log.clipped.reshape(2, -1)
    np.testing.assert_allclose(history.history["clipped_fraction"], halves.mean(axis=1))
    np.testing.assert_allclose(
        history.history["grad_norm_max"], log.grad_norm.reshape(2, -1).max(axis=1), rtol=1e-6
    )
    assert 0 < log.clipped_fraction < 1


def test_bad_input():
    sgd = keras.optimizers.SGD(0.1)
    with pytest.raises(ValueError, match="global_clipnorm"):
        fit_clipping.clipping_optimizer(
            keras.optimizers.SGD(0.1, global_clipnorm=1.0), "global_norm", 1.0
        )
    with pytest.raises(TypeError, match="LossScaleOptimizer"):
        fit_clipping.clipping_optimizer(
            keras.optimizers.LossScaleOptimizer(sgd), "global_norm", 1.0
        )
    with pytest.raises(TypeError, match="Keras optimizer"):
        fit_clipping.clipping_optimizer("sgd", "global_norm", 1.0)
    with pytest.raises(ValueError, match="model="):
        fit_clipping.clipping_optimizer(sgd, "agc", 0.01)
    with pytest.raises(ValueError, match="mode"):
        fit_clipping.clipping_optimizer(sgd, "median", 1.0)
    with pytest.raises(ValueError, match="threshold"):
        fit_clipping.clipping_optimizer(sgd, "global_norm", -1.0)
    with pytest.raises(TypeError, match="already"):
        fit_clipping.clipping_optimizer(fit_clipping.clipping_optimizer(sgd, "none"), "none")
    with pytest.raises(TypeError, match="log_dir"):
        fit_clipping.NormLog(3)
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    with pytest.raises(TypeError, match="clipping_optimizer"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0, callbacks=[fit_clipping.NormLog()])


def scaled_fit(scaler, optimizer, clip=None, log_dir=None):
    """``model.fit`` on one device of ``distributed_cases.mixed_model`` (mixed_float16) on its batches, whose loss
    overflows float16 in some steps: ``scaler`` ("keras" or "ours") around ``clipping_optimizer(optimizer)``
    (global norm at ``clip``, or no clipping); the model, NormLog, History and the loss scale after each step."""
    xs, ys = distributed_cases.mixed_batches()
    model = distributed_cases.mixed_model()
    inner = fit_clipping.clipping_optimizer(
        optimizer, "none" if clip is None else "global_norm", clip
    )
    wrapped = SCALERS[scaler](
        inner,
        initial_scale=distributed_cases.INITIAL_SCALE,
        dynamic_growth_steps=distributed_cases.GROWTH_STEPS,
    )
    model.compile(optimizer=wrapped, loss="sparse_categorical_crossentropy")
    log, scales = fit_clipping.NormLog(log_dir), []
    read_scale = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: scales.append(float(wrapped.dynamic_scale.numpy()))
    )
    history = model.fit(
        tf.data.Dataset.from_tensor_slices((xs, ys)),
        verbose=0,
        shuffle=False,
        callbacks=[log, read_scale],
    )
    return model, log, history, np.array(scales)


@pytest.mark.parametrize(
    "make",
    [lambda: keras.optimizers.SGD(0.1), lambda: keras.optimizers.Adam(1e-3)],
    ids=["sgd", "adam"],
)
@pytest.mark.parametrize("clip", [None, 0.5], ids=["no clipping", "global norm"])
def test_our_loss_scaling_equals_keras_step_for_step_on_one_device(make, clip):
    """Bit for bit: the same skipped steps, scales, weights and (Adam's bias correction) iterations. With Grappler's
    arithmetic optimizer on (the default), which rewrites the two graphs differently, the weights differ by a
    float32 rounding where a clip fires (measured 3.7e-9); here it is off, so the arithmetic itself is compared."""
    options = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
    try:
        keras_model, keras_log, _, keras_scales = scaled_fit("keras", make(), clip)
        model, log, _, scales = scaled_fit("ours", make(), clip)
    finally:
        tf.config.optimizer.set_experimental_options({"arithmetic_optimization": True, **options})
    assert 2 <= log.skipped.sum() < len(log.skipped)  # the case skips steps and applies others
    np.testing.assert_array_equal(scales, keras_scales)
    assert int(model.optimizer.iterations.numpy()) == int(keras_model.optimizer.iterations.numpy())
    for ours, theirs in zip(model.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(
        log.grad_norm[~log.skipped], keras_log.grad_norm
    )  # Keras logs applied ones


def test_norm_log_marks_skipped_steps(tmp_path):
    """A finite pre-clip norm for every applied update; skipped updates marked, their norm inf/NaN, not clipped."""
    _, log, history, scales = scaled_fit("ours", keras.optimizers.SGD(0.1), 0.3, tmp_path)
    before = np.concatenate([[distributed_cases.INITIAL_SCALE], scales[:-1]])
    np.testing.assert_array_equal(log.skipped, scales < before)  # a skipped step halves the scale
    np.testing.assert_array_equal(np.isfinite(log.grad_norm), ~log.skipped)
    assert not log.clipped[log.skipped].any() and log.clipped.any()
    np.testing.assert_array_equal(log.loss_scale, scales)
    assert log.clipped_fraction == log.clipped[~log.skipped].mean()
    assert history.history["skipped_steps"] == [log.skipped.sum()]
    assert history.history["grad_norm_max"] == [pytest.approx(log.grad_norm[~log.skipped].max())]
    scalars = fit_clipping.read_scalars(tmp_path)
    np.testing.assert_array_equal(scalars["skipped"][1].astype(bool), log.skipped)
    np.testing.assert_array_equal(scalars["loss_scale"][1], scales)


@pytest.fixture(scope="module")
def ours_on_three_replicas():
    return run_case("mixed_mirrored", "ours")


@pytest.mark.parametrize(
    "one, three",
    [("one", "three"), ("clipping_one", "clipping_three")],
    ids=["no clipping", "global norm"],
)
def test_our_loss_scaling_on_three_replicas_skips_one_devices_steps(
    ours_on_three_replicas, one, three
):
    """The last replica's loss overflows float16 in the first steps, the others' do not (Keras's NaN case,
    ``test_framework_facts.py``). Ours: every replica holds the same weights, the same steps as one device are
    skipped, same loss scale. Tolerance on weights 1e-4 and on the final loss 1e-4 relative: the replicas round their
    partial gradients to float16 (relative 2^-11) separately, one device rounds the whole sum once; measured
    8e-6 on the weights after the run's applied steps (learning rate 0.1)."""
    reference, result = ours_on_three_replicas[one], ours_on_three_replicas[three]
    assert all(result["finite"]) and result["replicas_equal"]
    assert result["skipped"] == reference["skipped"] and 2 <= sum(result["skipped"]) < len(
        result["skipped"]
    )
    assert result["scales"] == reference["scales"]
    norms, skipped = np.array(result["norms"]), np.array(result["skipped"])
    np.testing.assert_array_equal(np.isfinite(norms), ~skipped)
    np.testing.assert_allclose(norms[~skipped], np.array(reference["norms"])[~skipped], rtol=1e-3)
    assert result["loss"] == pytest.approx(reference["loss"], rel=1e-4)
    for ours, theirs in zip(result["weights"], reference["weights"], strict=True):
        np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=0, atol=1e-4)


def test_loss_scale_optimizer_bad_input():
    sgd = keras.optimizers.SGD(0.1)
    with pytest.raises(TypeError, match="clipping_optimizer"):
        fit_clipping.LossScaleOptimizer(sgd)
    inner = fit_clipping.clipping_optimizer(sgd, "none")
    with pytest.raises(ValueError, match="initial_scale"):
        fit_clipping.LossScaleOptimizer(inner, initial_scale=0.0)
    with pytest.raises(ValueError, match="dynamic_growth_steps"):
        fit_clipping.LossScaleOptimizer(inner, dynamic_growth_steps=0)
    first = fit_clipping.LossScaleOptimizer(inner)
    with pytest.raises(TypeError, match="already"):
        fit_clipping.LossScaleOptimizer(inner)
    del first  # a wrapper that is gone does not hold its inner optimizer
    gc.collect()
    fit_clipping.LossScaleOptimizer(inner)
