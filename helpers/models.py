"""Keras models for the lessons: the source article's LSTM (notebook 04) and recurrent models whose recurrent
kernel is ``ρ·Q`` (``Q`` orthogonal), so a lesson can dial the spectral radius ρ (notebook 02)."""

from __future__ import annotations

import keras
import numpy as np

from helpers import checks
from helpers.theory import matrix_with_spectral_radius

#: The recurrent layer types ``recurrent_model`` builds and ``helpers.gradients`` measures (Keras class names).
RECURRENT_CELLS = ("SimpleRNN", "GRU", "LSTM")
#: The activations ``recurrent_model`` offers for the recurrent layer (its ``activation`` argument).
RECURRENT_ACTIVATIONS = ("linear", "tanh")
#: Gate blocks in each recurrent kernel, in Keras's column order.
GATE_BLOCKS = {"SimpleRNN": ("h",), "GRU": ("z", "r", "h"), "LSTM": ("i", "f", "c", "o")}


def article_lstm(units: int = 10, timesteps: int = 28, features: int = 28, classes: int = 10):
    """``Sequential([Input((timesteps, features)), LSTM(units), Dense(classes, softmax)])``, not compiled; seed
    first (``helpers.seed_everything``) for reproducible initial weights.

    Args:
        units, timesteps, features, classes: the LSTM's size, the input (28 rows of 28 pixels), the classes (>= 2).
    """
    units = checks.positive_int("units", units)
    timesteps = checks.positive_int("timesteps", timesteps)
    features = checks.positive_int("features", features)
    classes = checks.positive_int("classes", classes, minimum=2)
    lstm = keras.layers.LSTM(units, name="lstm")
    softmax = keras.layers.Dense(classes, activation="softmax", name="softmax")
    return keras.Sequential(
        [keras.Input((timesteps, features)), lstm, softmax], name="article_lstm"
    )


def recurrent_model(
    cell: str = "SimpleRNN",
    units: int = 32,
    rho: float = 1.0,
    activation: str = "tanh",
    features: int = 2,
    timesteps: int | None = None,
    outputs: int = 1,
    seed: int = 0,
    dtype: str = "float32",
):
    """``Sequential([Input((timesteps, features)), <cell>(units, name="rnn"), Dense(outputs, name="readout")])``,
    not compiled, its recurrent kernel set by ``set_spectral_radius(rho)``.

    Args:
        cell, units: one of ``RECURRENT_CELLS`` and its size.
        rho: the spectral radius of every gate block of the recurrent kernel.
        activation: the layer's ``activation`` (the GRU/LSTM gates keep their sigmoid).
        features, timesteps: the input ``(batch, timesteps, features)`` (``timesteps=None``: any length).
        outputs: the size of the linear read-out of the last hidden state.
        seed: every initial weight comes from it (no global seeding needed).
        dtype: ``"float32"``, or ``"float64"`` for exact comparisons.
    """
    checks.one_of("cell", cell, RECURRENT_CELLS)
    units = checks.positive_int("units", units)
    rho = checks.positive("rho", rho)
    checks.one_of("activation", activation, RECURRENT_ACTIVATIONS)
    features = checks.positive_int("features", features)
    if timesteps is not None:
        timesteps = checks.positive_int("timesteps", timesteps)
    outputs = checks.positive_int("outputs", outputs)
    seed = checks.positive_int("seed", seed, minimum=0)
    checks.one_of("dtype", dtype, ("float32", "float64"))
    glorot, orthogonal = keras.initializers.GlorotUniform, keras.initializers.Orthogonal
    recurrent = getattr(keras.layers, cell)(
        units,
        activation=activation,
        kernel_initializer=glorot(seed=seed),
        recurrent_initializer=orthogonal(seed=seed + 1),
        dtype=dtype,
        name="rnn",
    )
    readout = keras.layers.Dense(
        outputs, kernel_initializer=glorot(seed=seed + 2), dtype=dtype, name="readout"
    )
    inputs = keras.Input((timesteps, features), dtype=dtype)
    model = keras.Sequential([inputs, recurrent, readout], name=f"{cell.lower()}_{activation}")
    set_spectral_radius(recurrent, rho, seed=seed)
    return model


def set_spectral_radius(layer, rho: float, seed: int = 0) -> np.ndarray:
    """Assign ``ρ·Q_k`` to every gate block ``k`` (``GATE_BLOCKS``) of a built recurrent layer's kernel, in place,
    and return the new kernel as a NumPy array.

    Args:
        layer: a built ``SimpleRNN``/``GRU``/``LSTM`` layer.
        rho: the spectral radius ``ρ``, also every singular value of every block.
        seed: ``Q_k`` is ``theory.matrix_with_spectral_radius``'s orthogonal matrix with seed ``seed + k``.
    """
    name = type(layer).__name__
    if name not in RECURRENT_CELLS or not isinstance(layer, keras.layers.Layer):
        raise TypeError(f"layer must be a Keras {', '.join(RECURRENT_CELLS)} layer, got {name}")
    if not layer.built:
        raise ValueError(
            f"layer {layer.name!r} must be built (call the model once or give it an Input) first"
        )
    rho = checks.positive("rho", rho)
    seed = checks.positive_int("seed", seed, minimum=0)
    kernel, units = layer.cell.recurrent_kernel, layer.cell.units
    blocks = [
        matrix_with_spectral_radius(rho, units, seed=seed + k)
        for k in range(len(GATE_BLOCKS[name]))
    ]
    value = np.concatenate(blocks, axis=1).astype(kernel.dtype)
    kernel.assign(value)
    return value
