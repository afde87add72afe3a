"""helpers.models.recurrent_model / set_spectral_radius: recurrent kernels with a chosen spectral radius ρ."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers.models import GATE_BLOCKS, recurrent_model, set_spectral_radius


def _blocks(model, cell):
    kernel = model.get_layer("rnn").cell.recurrent_kernel.numpy()
    units = kernel.shape[0]
    return [kernel[:, k * units : (k + 1) * units] for k in range(len(GATE_BLOCKS[cell]))]


@pytest.mark.parametrize("cell", ["SimpleRNN", "GRU", "LSTM"])
@pytest.mark.parametrize("rho", [0.5, 1.0, 1.3])
def test_every_gate_block_has_spectral_radius_rho(cell, rho):
    model = recurrent_model(cell, units=8, rho=rho, seed=5, dtype="float64")
    kernel = model.get_layer("rnn").cell.recurrent_kernel
    assert tuple(kernel.shape) == (8, 8 * len(GATE_BLOCKS[cell]))
    blocks = _blocks(model, cell)
    for block in blocks:
        np.testing.assert_allclose(np.linalg.svd(block, compute_uv=False), rho, rtol=1e-12)
        assert np.max(np.abs(np.linalg.eigvals(block))) == pytest.approx(rho, rel=1e-12)
    if len(blocks) > 1:  # the gates get different orthogonal matrices
        assert not np.allclose(blocks[0], blocks[1])


@pytest.mark.parametrize("cell", ["SimpleRNN", "GRU", "LSTM"])
@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_model_structure(cell, activation):
    model = recurrent_model(cell, units=4, activation=activation, features=3, outputs=2, seed=0)
    layer = model.get_layer("rnn")
    assert type(layer).__name__ == cell
    assert layer.activation is keras.activations.get(activation)
    assert model.get_layer("readout").units == 2
    assert model.dtype == "float32"
    # any length works when timesteps is None
    for length in (3, 11):
        assert model(np.zeros((5, length, 3), np.float32)).shape == (5, 2)


def test_fixed_timesteps_and_float64():
    model = recurrent_model("GRU", units=3, timesteps=7, dtype="float64")
    assert model.inputs[0].shape == (None, 7, 2)
    assert all(v.dtype == "float64" for v in model.weights)
    assert model(np.zeros((2, 7, 2))).dtype == "float64"


def test_seed_decides_every_weight():
    a = recurrent_model("LSTM", units=4, seed=3)
    b = recurrent_model("LSTM", units=4, seed=3)
    c = recurrent_model("LSTM", units=4, seed=4)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.allclose(a.get_weights()[0], c.get_weights()[0])


def test_set_spectral_radius_in_place():
    model = recurrent_model("SimpleRNN", units=6, rho=1.0, dtype="float64")
    layer = model.get_layer("rnn")
    variable = layer.cell.recurrent_kernel
    before = variable.numpy().copy()
    value = set_spectral_radius(layer, 0.7, seed=0)
    assert layer.cell.recurrent_kernel is variable
    np.testing.assert_allclose(variable.numpy(), value)
    np.testing.assert_allclose(value, 0.7 * before, rtol=1e-12)  # same Q, new ρ
    np.testing.assert_allclose(np.linalg.svd(value, compute_uv=False), 0.7, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"cell": "RNN"}, ValueError, "cell must be one of 'SimpleRNN', 'GRU', 'LSTM'"),
        ({"units": 0}, ValueError, "units must be an integer >= 1"),
        ({"units": 2.0}, TypeError, "units must be an integer"),
        ({"rho": 0.0}, ValueError, "rho must be a positive"),
        ({"rho": float("inf")}, ValueError, "rho must be a finite"),
        ({"rho": None}, TypeError, "rho must be a real number"),
        ({"activation": "relu"}, ValueError, "activation must be one of 'linear', 'tanh'"),
        ({"features": 0}, ValueError, "features must be an integer >= 1"),
        ({"timesteps": 0}, ValueError, "timesteps must be an integer >= 1"),
        ({"outputs": -1}, ValueError, "outputs must be an integer >= 1"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        ({"dtype": "float16"}, ValueError, "dtype must be one of 'float32', 'float64'"),
    ],
)
def test_recurrent_model_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        recurrent_model(**kwargs)


def test_set_spectral_radius_bad_input():
    layer = recurrent_model("GRU", units=3).get_layer("rnn")
    with pytest.raises(TypeError, match="layer must be a Keras SimpleRNN, GRU, LSTM layer"):
        set_spectral_radius(keras.layers.Dense(3), 1.0)
    with pytest.raises(TypeError, match="layer must be a Keras"):
        set_spectral_radius("rnn", 1.0)
    with pytest.raises(ValueError, match="must be built"):
        set_spectral_radius(keras.layers.LSTM(3), 1.0)
    with pytest.raises(ValueError, match="rho must be a positive"):
        set_spectral_radius(layer, -0.5)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        set_spectral_radius(layer, 1.0, seed=-2)
