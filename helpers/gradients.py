"""Gradient norms of Keras models per time step inside a recurrent layer (notebook 02).

``step_gradient_norms`` measures ‖∂L/∂h_t‖ (and the LSTM's ‖∂L/∂c_t‖): the Frobenius norm, over batch and units, of the
*total* derivative of the batch-mean loss ``L`` with respect to the state at step t (with the loss read after step T:
the gradient that travelled back T − t steps). How the states reach the tape: the layer's own cell runs over time in
``tf.scan`` and a zero tensor ``δ_t`` is added to each new state, so ``∂L/∂δ_t = ∂L/∂h_t`` and the forward values are
unchanged. For the LSTM, ``h_t = o_t·tanh(c_t)``: the cell-state probe also goes through the output gate, so ``∂L/∂c_t``
includes the path through ``h_t``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers import checks
from helpers.models import RECURRENT_CELLS

# One compiled function per (model, loss): built on the first call, reused for any batch size and length T.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class StepGradientNorms:
    """What ``step_gradient_norms`` measured for one batch (``cell``, ``cell_states``: ``None`` unless LSTM)."""

    hidden: np.ndarray  #: ``(T,)`` ‖∂L/∂h_t‖ for t = 1..T (index ``t − 1``)
    cell: np.ndarray | None  #: ``(T,)`` ‖∂L/∂c_t‖ of the LSTM's cell state
    hidden_states: (
        np.ndarray
    )  #: ``(batch, T, units)`` the states ``h_t`` (e.g. to measure tanh saturation)
    cell_states: np.ndarray | None  #: ``(batch, T, units)`` the LSTM's ``c_t``
    loss: float  #: the batch-mean loss ``L``


def recurrent_layer(model):
    """The one recurrent layer (``SimpleRNN``/``GRU``/``LSTM``) of a ``keras.Sequential`` model; it must be a plain
    forward layer (not ``go_backwards``, ``stateful`` or ``return_state``)."""
    if not isinstance(model, keras.Sequential):
        raise TypeError(f"model must be a keras.Sequential model, got {type(model).__name__}")
    found = [layer for layer in model.layers if type(layer).__name__ in RECURRENT_CELLS]
    if len(found) != 1:
        names = [type(layer).__name__ for layer in model.layers]
        raise ValueError(
            f"model must hold exactly one of {', '.join(RECURRENT_CELLS)} layers, got layers {names}"
        )
    layer = found[0]
    for flag in ("go_backwards", "stateful", "return_state"):
        if getattr(layer, flag):
            raise ValueError(f"model's recurrent layer {layer.name!r} must not use {flag}=True")
    return layer


def _loss_function(loss) -> Callable:
    if isinstance(loss, str):
        try:
            return keras.losses.get(loss)
        except ValueError as error:
            raise ValueError(
                f"loss must be a Keras loss name such as 'mse' or a callable, got {loss!r}"
            ) from error
    if not callable(loss):
        raise TypeError(
            f"loss must be a Keras loss name or a callable loss(y_true, y_pred), got {type(loss).__name__}"
        )
    return loss


def _check_batch(model, x, y):
    x = checks.array("x", x, ndim=3)
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(
            f"x must hold at least one sequence of at least one step, got shape {x.shape}"
        )
    expected = model.inputs[0].shape[-1] if model.inputs else None
    if expected is not None and x.shape[2] != expected:
        raise ValueError(
            f"x must have {expected} features in its last axis (the model's input), got shape {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("x must hold finite numbers only")
    y = checks.array("y", y)
    if y.ndim == 0 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"y must have one target per sequence (first axis {x.shape[0]}), got shape {y.shape}"
        )
    return x, y


def _targets(y, dtype) -> tf.Tensor:
    """``y`` as a tensor, float targets in the model's ``dtype`` (class labels keep their integer dtype)."""
    y = tf.convert_to_tensor(y)
    return tf.cast(y, dtype) if y.dtype.is_floating else y


def _step_function(model, loss: Callable, layer):
    cell = layer.cell
    index = model.layers.index(layer)
    before, after = model.layers[:index], model.layers[index + 1 :]
    units = cell.units
    dtype = layer.compute_dtype
    is_lstm = isinstance(cell, keras.layers.LSTMCell)

    def step(carry, elements):
        h_prev, c_prev = carry
        x_t, dh_t, dc_t = elements
        if not is_lstm:
            h, _ = cell(x_t, [h_prev], training=False)
            return h + dh_t, c_prev
        h, (_, c) = cell(x_t, [h_prev, c_prev], training=False)
        # The output gate, from the layer's own weights (Keras's gate order: i, f, c, o).
        z_o = tf.matmul(x_t, cell.kernel[:, 3 * units :]) + tf.matmul(
            h_prev, cell.recurrent_kernel[:, 3 * units :]
        )
        if cell.use_bias:
            z_o = z_o + cell.bias[3 * units :]
        o = cell.recurrent_activation(z_o)
        c_new = c + dc_t
        # Equal to h when dc_t = 0; lets ∂L/∂c_t include the path c_t → h_t = o_t·act(c_t).
        h = h + o * (cell.activation(c_new) - cell.activation(c))
        return h + dh_t, c_new

    def measure(x, y):
        sequence = x
        for other in before:
            sequence = other(sequence, training=False)
        sequence = tf.cast(sequence, dtype)
        batch, length = tf.shape(sequence)[0], tf.shape(sequence)[1]
        dh = tf.zeros(tf.stack([length, batch, units]), dtype=dtype)
        dc = tf.zeros_like(dh)
        zeros = tf.zeros(tf.stack([batch, units]), dtype=dtype)
        with tf.GradientTape() as tape:
            tape.watch([dh, dc])
            hs, cs = tf.scan(
                step, (tf.transpose(sequence, [1, 0, 2]), dh, dc), initializer=(zeros, zeros)
            )
            out = tf.transpose(hs, [1, 0, 2]) if layer.return_sequences else hs[-1]
            for other in after:
                out = other(out, training=False)
            value = tf.reduce_mean(loss(y, out))
        grad_h, grad_c = tape.gradient(value, [dh, dc])
        norm_h = tf.sqrt(tf.reduce_sum(tf.square(grad_h), axis=[1, 2]))
        norm_c = tf.sqrt(tf.reduce_sum(tf.square(grad_c), axis=[1, 2]))
        return value, norm_h, norm_c, tf.transpose(hs, [1, 0, 2]), tf.transpose(cs, [1, 0, 2])

    return measure


def step_gradient_norms(model, x, y, loss="mse") -> StepGradientNorms:
    """The ``StepGradientNorms`` of one batch, in the layer's dtype. The first call per model compiles (about a
    second); later calls, of any batch size and length, reuse it.

    Args:
        model: a ``keras.Sequential`` with one recurrent layer (``recurrent_layer``).
        x, y: inputs ``(batch, T, features)`` and targets with first axis ``batch``.
        loss: a Keras loss name or ``loss(y_true, y_pred)``.
    """
    layer = recurrent_layer(model)
    loss_fn = _loss_function(loss)
    x, y = _check_batch(model, x, y)
    dtype = layer.compute_dtype
    y_tensor = _targets(y, dtype)
    key = (loss, y_tensor.shape.rank, y_tensor.dtype.name)
    per_model = _COMPILED.setdefault(model, {})
    if key not in per_model:
        signature = (
            tf.TensorSpec((None, None, x.shape[2]), dtype),
            tf.TensorSpec((None, *y_tensor.shape[1:]), y_tensor.dtype),
        )
        per_model[key] = tf.function(
            _step_function(model, loss_fn, layer), input_signature=signature
        )
    value, norm_h, norm_c, hs, cs = per_model[key](tf.constant(x, dtype=dtype), y_tensor)
    lstm = type(layer).__name__ == "LSTM"
    return StepGradientNorms(
        hidden=norm_h.numpy(),
        cell=norm_c.numpy() if lstm else None,
        hidden_states=hs.numpy(),
        cell_states=cs.numpy() if lstm else None,
        loss=float(value),
    )


def linear_prediction(rho, last_norm, length) -> np.ndarray:
    """``ρ^(T−t)·‖∂L/∂h_T‖`` for t = 1..T, shape ``(T,)``: exact for a linear RNN with recurrent kernel ``ρ·Q``,
    ``Q`` orthogonal, since each step back multiplies the gradient by ``(ρQ)ᵀ``.

    Args:
        rho, last_norm, length: ``ρ``, the measured ``‖∂L/∂h_T‖`` and ``T``.
    """
    rho = checks.positive("rho", rho)
    last_norm = checks.non_negative("last_norm", last_norm)
    length = checks.positive_int("length", length)
    return last_norm * rho ** np.arange(length - 1, -1, -1, dtype=np.float64)
