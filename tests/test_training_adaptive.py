"""helpers.training with the adaptive rules of notebook 05 — AutoClip and AGC as ``Setting`` modes, ``loss="mse"``
for the adding problem, seed-taking model functions — checked against a plain Keras tape loop that calls
``helpers.clipping`` step by step, and trained together against one by one.

Compiling costs seconds per shape: chunk=20 and 40 steps everywhere, K in {1, 2, 6}.
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import clipping, data, models, training
from helpers.training import Setting

CHUNK, STEPS = 20, 40


@pytest.fixture(scope="module")
def train_data():
    (x_train, y_train), _ = data.load_fashion_mnist()
    return x_train, y_train


def run(settings, train_data, steps=STEPS, **kwargs):
    kwargs.setdefault("chunk", CHUNK)
    kwargs.setdefault("progress", False)
    return training.train(settings, train_data, steps, **kwargs)


def by_hand(
    setting, train_data, steps, clip, model_fn=models.article_lstm, loss_fn=None, batches=None
):
    """The ordinary tape loop with Keras's own optimizer: ``clip(grads, model) -> (clipped, norm, threshold)``."""
    xs, ys = batches if batches is not None else training.draw_batches(train_data, steps)
    keras.utils.set_random_seed(setting.seed)
    model = model_fn()
    optimizer = training.keras_optimizer(
        Setting("none", learning_rate=setting.learning_rate, momentum=setting.momentum)
    )
    loss_fn = loss_fn or keras.losses.SparseCategoricalCrossentropy()
    losses, norms, thresholds = [], [], []
    for step in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(ys[step], model(xs[step], training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        clipped, norm, threshold = clip(grads, model)
        optimizer.apply(clipped, model.trainable_variables)
        losses.append(float(loss))
        norms.append(float(norm))
        thresholds.append(float(threshold))
    return (
        np.array(losses),
        np.array(norms),
        np.array(thresholds),
        [v.numpy() for v in model.trainable_variables],
    )


def assert_same_run(history, losses, norms, weights, rtol=2e-4):
    np.testing.assert_allclose(history.loss, losses, rtol=rtol, atol=1e-6)
    np.testing.assert_allclose(history.grad_norm, norms, rtol=rtol, atol=1e-6)
    for ours, theirs in zip(history.weights, weights):
        assert np.abs(ours - theirs).max() <= 1e-4 * max(np.abs(theirs).max(), 1e-3)


# ------------------------------------------------------------------------------------------------ equal to the helpers


def test_autoclip_setting_equals_a_tape_loop_with_clipping_autoclip(train_data):
    setting = Setting("autoclip", 10, learning_rate=0.1, momentum=0.9)
    history = run(setting, train_data)
    clipper = clipping.AutoClip(10, capacity=STEPS)

    def clip(grads, model):
        clipped, norm = clipper(grads)
        return clipped, norm, clipper.last_threshold

    losses, norms, thresholds, weights = by_hand(setting, train_data, STEPS, clip)
    assert_same_run(history, losses, norms, weights)
    clear = np.abs(norms - thresholds) > 1e-5 * thresholds  # float32 ties aside
    np.testing.assert_array_equal(history.clipped[clear], (norms > thresholds)[clear])
    assert 0.5 < history.clipped_fraction < 1


# ------------------------------------------------------------------------------------------------ several at once

SIX = [
    Setting("none", learning_rate=0.05),
    Setting("global_norm", 0.3, learning_rate=0.05, momentum=0.9),
    Setting("autoclip", 10, learning_rate=0.05, momentum=0.9),
    Setting("autoclip", 90, learning_rate=0.05, seed=1),
    Setting("agc", 0.01, learning_rate=0.05, momentum=0.9),
    Setting("agc", 0.1, optimizer="adam", learning_rate=0.003),
]


def test_several_settings_with_adaptive_rules_together_equal_one_by_one(train_data):
    """Equal up to float32 round-off: K copies batched together reduce in a different order than one alone."""
    together = run(SIX, train_data)
    for setting, joint in zip(SIX, together):
        alone = run(setting, train_data)
        assert alone.setting == joint.setting
        np.testing.assert_allclose(alone.loss, joint.loss, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(alone.grad_norm, joint.grad_norm, rtol=1e-3, atol=1e-6)
        assert (
            np.mean(alone.clipped != joint.clipped) <= 0.05
        )  # a flip only where a norm ties its threshold
        for a, b in zip(alone.weights, joint.weights):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_autoclip_history_survives_chunks(train_data):
    """The norm history is carried from one compiled chunk to the next: chunks of 7 steps give the same run."""
    setting = Setting("autoclip", 30, learning_rate=0.1, momentum=0.9)
    whole, pieces = run(setting, train_data, chunk=STEPS), run(setting, train_data, chunk=7)
    np.testing.assert_allclose(whole.loss, pieces.loss, rtol=1e-6)
    np.testing.assert_array_equal(whole.clipped, pieces.clipped)


def test_a_diverging_autoclip_run_stops_and_is_reported(train_data):
    exploding, calm = run(
        [
            Setting("autoclip", 50, optimizer="adam", learning_rate=1e37),
            Setting("agc", 0.01, learning_rate=0.05),
        ],
        train_data,
    )
    assert exploding.diverged and exploding.steps == exploding.diverged_at + 1 < STEPS
    assert not calm.diverged and calm.steps == STEPS


# ------------------------------------------------------------------------------------------------ the adding problem

LENGTH = 10
adding_model = functools.partial(models.recurrent_model, "LSTM", units=8, timesteps=LENGTH)


def adding_batches():
    x, y = data.adding_problem(STEPS * 16, LENGTH, seed=0)
    return tf.data.Dataset.from_tensor_slices((x, y[:, 0])).batch(16)


def test_mse_loss_on_the_adding_problem_equals_a_tape_loop(train_data):
    setting = Setting("global_norm", 0.5, learning_rate=0.2)
    history = training.train(
        setting, adding_batches, STEPS, model=adding_model, loss="mse", chunk=CHUNK, progress=False
    )
    x, y = data.adding_problem(STEPS * 16, LENGTH, seed=0)
    batches = (x.reshape(STEPS, 16, LENGTH, 2), y.reshape(STEPS, 16, 1))

    def clip(grads, model):
        clipped, norm = clipping.clip(grads, "global_norm", 0.5)
        return clipped, norm, 0.5

    losses, norms, _, weights = by_hand(
        setting,
        None,
        STEPS,
        clip,
        model_fn=functools.partial(adding_model, seed=setting.seed),
        loss_fn=keras.losses.MeanSquaredError(),
        batches=batches,
    )
    assert_same_run(history, losses, norms, weights, rtol=1e-3)
    assert np.all(np.isnan(history.accuracy))
    assert history.clipped.any()


def test_model_functions_that_take_a_seed_get_each_settings_seed():
    first, second = (training.initial_weights(adding_model, seed) for seed in (0, 1))
    expected = [v.numpy() for v in adding_model(seed=1).trainable_variables]
    for a, b in zip(second, expected):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], second[0])


def test_mse_needs_one_output_and_a_known_loss(train_data):
    with pytest.raises(ValueError, match="one output"):
        run(Setting("none"), train_data, loss="mse")
    with pytest.raises(ValueError, match="loss"):
        run(Setting("none"), train_data, loss="hinge")


# ------------------------------------------------------------------------------------------------ bad settings


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "autoclip"}, ValueError, "threshold is required"),
        ({"mode": "autoclip", "threshold": 0}, ValueError, "threshold must be a positive"),
        (
            {"mode": "autoclip", "threshold": 100.5},
            ValueError,
            r"percentile\) must be in \(0, 100\]",
        ),
        ({"mode": "autoclip", "threshold": math.nan}, ValueError, "threshold must be a finite"),
        ({"mode": "autoclip", "threshold": "10"}, TypeError, "threshold must be a real number"),
        ({"mode": "agc"}, ValueError, "threshold is required"),
        ({"mode": "agc", "threshold": 0.0}, ValueError, "threshold"),
        ({"mode": "agc", "threshold": -0.01}, ValueError, "threshold"),
        ({"mode": "agc", "threshold": math.inf}, ValueError, "threshold"),
        ({"mode": "agc", "threshold": True}, TypeError, "threshold"),
    ],
)
def test_bad_adaptive_settings_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        Setting(**kwargs)


def test_adaptive_labels_and_no_keras_equivalent():
    assert (
        Setting("autoclip", 10, learning_rate=1.0, momentum=0.9).label
        == "AutoClip p=10, SGD+momentum 0.9 lr=1"
    )
    assert Setting("agc", 0.01).label == "AGC λ=0.01, SGD lr=0.01"
    for mode, value in (("autoclip", 10), ("agc", 0.01)):
        with pytest.raises(ValueError, match="no argument"):
            training.keras_optimizer(Setting(mode, value))
