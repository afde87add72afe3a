"""helpers.gradients: per-time-step ‖∂L/∂h_t‖ (and the LSTM's ‖∂L/∂c_t‖), per-layer and global weight-gradient norms."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.data import adding_problem
from helpers.gradients import (
    _COMPILED,
    StepGradientNorms,
    linear_prediction,
    recurrent_layer,
    step_gradient_norms,
)
from helpers.models import recurrent_model


def _batch(length, n=8, seed=3):
    return adding_problem(n, length, seed=seed, dtype="float64")


def _loop_reference(model, x, y):
    """Independent measurement: the cell unrolled in a Python loop, the tape asked for every intermediate h_t
    (the few lines notebook 02 shows)."""
    layer = model.get_layer("rnn")
    cell = layer.cell
    x = tf.constant(x)
    states = [
        tf.zeros((x.shape[0], cell.units), tf.float64)
        for _ in range(2 if cell.__class__.__name__ == "LSTMCell" else 1)
    ]
    hs = []
    with tf.GradientTape() as tape:
        for t in range(x.shape[1]):
            h, states = cell(x[:, t, :], states)
            hs.append(h)
        out = tf.stack(hs, axis=1) if layer.return_sequences else hs[-1]
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model.get_layer("readout")(out)))
    grads = tape.gradient(loss, hs)
    return np.array([float(tf.norm(g)) for g in grads]), float(loss)


def _lstm_reference(model, x, y):
    """Independent LSTM written out by hand from the layer's weights (gate order i, f, c, o), the tape asked for
    every c_t and h_t directly."""
    cell = model.get_layer("rnn").cell
    n = cell.units
    k, r, b = cell.kernel, cell.recurrent_kernel, cell.bias
    x = tf.constant(x)
    h = tf.zeros((x.shape[0], n), tf.float64)
    c = tf.zeros_like(h)
    hs, cs = [], []
    with tf.GradientTape() as tape:
        for t in range(x.shape[1]):
            z = x[:, t, :] @ k + h @ r + b
            i, f, g, o = (z[:, j * n : (j + 1) * n] for j in range(4))
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            hs.append(h)
            cs.append(c)
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model.get_layer("readout")(h)))
    grad_h, grad_c = tape.gradient(loss, [hs, cs])
    return (
        np.array([float(tf.norm(g)) for g in grad_h]),
        np.array([float(tf.norm(g)) for g in grad_c]),
        np.stack([s.numpy() for s in hs], axis=1),
    )


@pytest.mark.parametrize("rho", [0.8, 1.0, 1.2])
@pytest.mark.parametrize("length", [10, 50])
def test_linear_rnn_follows_rho_power_law(rho, length):
    model = recurrent_model(
        "SimpleRNN", units=16, rho=rho, activation="linear", seed=1, dtype="float64"
    )
    x, y = _batch(length)
    measured = step_gradient_norms(model, x, y).hidden
    assert measured.shape == (length,)
    predicted = linear_prediction(rho, measured[-1], length)
    np.testing.assert_allclose(measured, predicted, rtol=1e-4)
    # and the law is not trivially flat: the first step differs from the last by rho^(T-1)
    if rho != 1.0:
        assert abs(np.log(measured[0] / measured[-1])) > 0.5 * abs((length - 1) * np.log(rho))


def test_tanh_rnn_breaks_the_linear_law_for_large_rho():
    model = recurrent_model(
        "SimpleRNN", units=16, rho=1.5, activation="tanh", seed=1, dtype="float64"
    )
    x, y = _batch(50)
    measured = step_gradient_norms(model, x, y).hidden
    # saturation caps the growth far below 1.5^49
    assert measured[0] / measured[-1] < 1e-3 * 1.5**49


@pytest.mark.parametrize("cell", ["SimpleRNN", "GRU", "LSTM"])
@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_step_norms_match_a_python_loop_over_the_cell(cell, activation):
    model = recurrent_model(cell, units=6, rho=1.1, activation=activation, seed=2, dtype="float64")
    x, y = _batch(12)
    result = step_gradient_norms(model, x, y)
    reference, loss = _loop_reference(model, x, y)
    np.testing.assert_allclose(result.hidden, reference, rtol=1e-10)
    assert result.loss == pytest.approx(loss, rel=1e-12)
    # the forward pass is the layer's own
    np.testing.assert_allclose(
        result.hidden_states[:, -1], model.get_layer("rnn")(x).numpy(), rtol=1e-12
    )
    assert result.hidden_states.shape == (8, 12, 6)
    assert (result.cell is None) == (cell != "LSTM")


def test_lstm_cell_state_gradient_matches_a_hand_written_lstm():
    model = recurrent_model("LSTM", units=5, rho=1.3, activation="tanh", seed=4, dtype="float64")
    x, y = _batch(15)
    result = step_gradient_norms(model, x, y)
    grad_h, grad_c, hs = _lstm_reference(model, x, y)
    np.testing.assert_allclose(hs, result.hidden_states, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.hidden, grad_h, rtol=1e-10)
    np.testing.assert_allclose(result.cell, grad_c, rtol=1e-10)
    assert result.cell_states.shape == (8, 15, 5)
    # the cell-state gradient at T is the path through h_T = o_T·tanh(c_T), not zero
    assert result.cell[-1] > 0


def test_return_sequences_and_a_layer_before_the_rnn():
    model = keras.Sequential(
        [
            keras.Input((None, 2), dtype="float64"),
            keras.layers.Dense(3, dtype="float64", name="embed"),
            keras.layers.SimpleRNN(4, return_sequences=True, dtype="float64", name="rnn"),
            keras.layers.Dense(1, dtype="float64", name="readout"),
        ]
    )
    x, _ = _batch(7)
    y = np.zeros((8, 7, 1))
    result = step_gradient_norms(model, x, y)
    layer = model.get_layer("rnn")
    cell = layer.cell
    xs = tf.constant(x)
    h = tf.zeros((8, 4), tf.float64)
    hs = []
    with tf.GradientTape() as tape:
        embedded = model.get_layer("embed")(xs)
        for t in range(7):
            h, _ = cell(embedded[:, t, :], [h])
            hs.append(h)
        loss = tf.reduce_mean(
            keras.losses.mean_squared_error(y, model.get_layer("readout")(tf.stack(hs, 1)))
        )
    reference = [float(tf.norm(g)) for g in tape.gradient(loss, hs)]
    np.testing.assert_allclose(result.hidden, reference, rtol=1e-10)
    # every step has its own loss term, so the last step is not the only source
    assert result.hidden[0] > 0


def test_one_trace_serves_every_length_and_batch_size():
    model = recurrent_model("GRU", units=4, seed=0, dtype="float64")
    for n, length in [(3, 5), (7, 9), (2, 30)]:
        x, y = adding_problem(n, length, seed=n, dtype="float64")
        assert step_gradient_norms(model, x, y).hidden.shape == (length,)
    (function,) = _COMPILED[model].values()
    assert function.experimental_get_tracing_count() == 1


def test_custom_loss_callable():
    model = recurrent_model("SimpleRNN", units=4, seed=0, dtype="float64")
    x, y = _batch(6)
    mae = step_gradient_norms(model, x, y, loss=lambda t, p: tf.abs(t - p))
    mse = step_gradient_norms(model, x, y, loss="mse")
    assert isinstance(mae, StepGradientNorms)
    assert not np.allclose(mae.hidden, mse.hidden)


def test_linear_prediction_values():
    np.testing.assert_allclose(linear_prediction(2.0, 3.0, 4), [24.0, 12.0, 6.0, 3.0])
    np.testing.assert_allclose(linear_prediction(0.5, 1.0, 3), [0.25, 0.5, 1.0])


# ---- bad input -------------------------------------------------------------------------------------------------


def _functional():
    inputs = keras.Input((None, 2))
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.SimpleRNN(3)(inputs)))


def test_recurrent_layer_rejects_other_models():
    with pytest.raises(TypeError, match="model must be a keras.Sequential"):
        recurrent_layer(_functional())
    with pytest.raises(TypeError, match="model must be a keras.Sequential"):
        recurrent_layer("model")
    with pytest.raises(ValueError, match="exactly one of SimpleRNN, GRU, LSTM"):
        recurrent_layer(
            keras.Sequential([keras.Input((3, 2)), keras.layers.Flatten(), keras.layers.Dense(1)])
        )
    two = keras.Sequential(
        [keras.Input((3, 2)), keras.layers.GRU(2, return_sequences=True), keras.layers.GRU(2)]
    )
    with pytest.raises(ValueError, match="exactly one"):
        recurrent_layer(two)
    backwards = keras.Sequential(
        [keras.Input((3, 2)), keras.layers.SimpleRNN(2, go_backwards=True)]
    )
    with pytest.raises(ValueError, match="go_backwards"):
        recurrent_layer(backwards)


def test_step_gradient_norms_bad_input():
    model = recurrent_model("SimpleRNN", units=3, seed=0, dtype="float64")
    x, y = _batch(5)
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        step_gradient_norms(model, x[0], y)
    with pytest.raises(ValueError, match="x must have 2 features"):
        step_gradient_norms(model, np.zeros((8, 5, 3)), y)
    with pytest.raises(ValueError, match="at least one sequence"):
        step_gradient_norms(model, np.zeros((0, 5, 2)), y[:0])
    with pytest.raises(ValueError, match="finite"):
        step_gradient_norms(model, np.full((8, 5, 2), np.nan), y)
    with pytest.raises(TypeError, match="x must hold numbers"):
        step_gradient_norms(model, np.full((8, 5, 2), "a"), y)
    with pytest.raises(ValueError, match="y must have one target per sequence"):
        step_gradient_norms(model, x, y[:3])
    with pytest.raises(ValueError, match="y must have one target per sequence"):
        step_gradient_norms(model, x, 1.0)
    with pytest.raises(ValueError, match="loss must be a Keras loss name"):
        step_gradient_norms(model, x, y, loss="no_such_loss")
    with pytest.raises(TypeError, match="loss must be a Keras loss name or a callable"):
        step_gradient_norms(model, x, y, loss=3)
    with pytest.raises(TypeError, match="keras.Sequential"):
        step_gradient_norms(_functional(), x, y)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"rho": 0.0}, ValueError, "rho must be a positive"),
        ({"rho": -1.0}, ValueError, "rho must be a positive"),
        ({"rho": float("nan")}, ValueError, "rho must be a finite"),
        ({"rho": "1"}, TypeError, "rho must be a real number"),
        ({"last_norm": -1.0}, ValueError, "last_norm must be a finite number >= 0"),
        ({"last_norm": float("inf")}, ValueError, "last_norm must be a finite"),
        ({"length": 0}, ValueError, "length must be an integer >= 1"),
        ({"length": 2.5}, TypeError, "length must be an integer"),
        ({"length": True}, TypeError, "length must be an integer"),
    ],
)
def test_linear_prediction_bad_input(kwargs, error, match):
    arguments = {"rho": 1.0, "last_norm": 1.0, "length": 5} | kwargs
    with pytest.raises(error, match=match):
        linear_prediction(**arguments)
