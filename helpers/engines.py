"""Engines for ``helpers.training``: the outputs, losses and batch accuracies of K copies of one Keras model, each
weight stacked along a first axis of K, differentiable with respect to the stacked weights.

- ``VectorizedEngine``: ``Sequential([LSTM, Dense, ...])`` for all K weight sets as one batched computation, with
  the arithmetic of ``keras.layers.LSTMCell`` (fused gates) and ``Dense``; ``unsupported(model)`` says why not.
- ``KerasEngine``: any Keras model through ``model.stateless_call``, one copy after the other (slower).

Both have ``probabilities_and_loss(weights, x, y, loss)``, ``outputs`` (output units), ``context`` (for a
``helpers.clipping.ClipRule``) and ``key`` (what the trainer caches compiled functions by).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from helpers import clipping


def _layer_signature(layer) -> tuple:
    """A layer's class and configuration without its name (equal signatures compute alike)."""
    config = dict(layer.get_config())
    config.pop("name", None)
    return (type(layer).__name__, tuple(sorted((k, repr(v)) for k, v in config.items())))


def unsupported(model) -> str | None:
    """``None`` if the vectorized engine can run ``model``; otherwise the reason it cannot."""
    if not isinstance(model, keras.Sequential):
        return "the model is not a keras.Sequential"
    layers = model.layers
    if len(layers) < 2 or not isinstance(layers[0], keras.layers.LSTM):
        return "the first layer is not an LSTM"
    if not isinstance(layers[-1], keras.layers.Dense):
        return "the last layer is not a Dense layer"
    for index, layer in enumerate(layers):
        if isinstance(layer, keras.layers.LSTM):
            if index != 0:
                return "only a first LSTM layer is supported"
            if layer.return_sequences or layer.go_backwards or layer.stateful or layer.return_state:
                return "LSTM options return_sequences/go_backwards/stateful/return_state are not supported"
            if layer.cell.dropout or layer.cell.recurrent_dropout or not layer.cell.use_bias:
                return "LSTM dropout, recurrent_dropout and use_bias=False are not supported"
        elif isinstance(layer, keras.layers.Dense):
            if layer.kernel_constraint is not None or layer.bias_constraint is not None:
                return "Dense constraints are not supported"
        else:
            return f"layer {layer.name!r} ({type(layer).__name__}) is not supported"
    if any("seed_generator" not in v.path for v in model.non_trainable_variables):
        return "the model has non-trainable weights (other than random-seed states)"
    return None


class VectorizedEngine:
    """K copies of a ``Sequential([LSTM, Dense, ...])`` as one batched computation (weight ``i`` of copy ``k`` is
    ``W[i][k]``); the cross-entropy is taken from the logits after a softmax, as Keras does."""

    def __init__(self, model):
        self.key = ("vectorized", tuple(_layer_signature(layer) for layer in model.layers))
        index = {id(v): i for i, v in enumerate(model.trainable_variables)}
        lstm = model.layers[0].cell
        self.lstm = (index[id(lstm.kernel)], index[id(lstm.recurrent_kernel)], index[id(lstm.bias)])
        self.lstm_activations = (lstm.activation, lstm.recurrent_activation)
        self.dense = [
            (
                index[id(layer.kernel)],
                index[id(layer.bias)] if layer.use_bias else None,
                layer.activation,
            )
            for layer in model.layers[1:]
        ]
        self.softmax_logits = model.layers[-1].activation is keras.activations.softmax
        self.context = {"final_layer": tuple(clipping.last_layer(model))}
        self.outputs = model.output_shape[-1]

    def probabilities_and_loss(self, weights, x, y, loss="sparse_categorical_crossentropy"):
        """Outputs ``(K, batch, units)``, loss ``(K,)`` and accuracy ``(K,)`` (NaN for ``"mse"``) on batch ``x, y``."""
        kernel, recurrent, bias = (weights[i] for i in self.lstm)
        projected = tf.einsum(
            "btf,kfg->tkbg", x, kernel
        )  # x·kernel for every time step: (time, K, batch, 4·units)
        h = _lstm(projected, recurrent, bias, *self.lstm_activations)
        for kernel_id, bias_id, activation in self.dense:
            logits = tf.einsum("kbh,khu->kbu", h, weights[kernel_id])
            if bias_id is not None:
                logits = logits + weights[bias_id][:, None, :]
            h = activation(logits)
        if (
            loss == "mse"
        ):  # keras.losses.MeanSquaredError: mean over the outputs, then over the batch
            squared = tf.square(tf.cast(y, h.dtype)[..., None] - h)
            return h, tf.reduce_mean(squared, axis=[1, 2]), tf.fill(tf.shape(h)[:1], float("nan"))
        labels = tf.broadcast_to(tf.cast(y, tf.int64), tf.shape(h)[:2])
        if not self.softmax_logits:
            epsilon = keras.config.epsilon()
            logits = tf.math.log(tf.clip_by_value(h, epsilon, 1.0 - epsilon))
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        correct = tf.cast(tf.equal(tf.argmax(h, axis=-1), labels), tf.float32)
        return h, tf.reduce_mean(per_example, axis=1), tf.reduce_mean(correct, axis=1)


def _lstm(projected, recurrent, bias, activation, recurrent_activation):
    """The last hidden state ``(K, batch, units)`` of ``LSTMCell``'s recurrence, ``z = x·kernel + h·recurrent_kernel
    + bias`` split into the gates ``i, f, c̃, o``, from ``projected`` = ``x·kernel`` ``(time, K, batch, 4·units)``."""
    steps, k, batch, four_units = projected.shape
    zeros = tf.zeros([k, batch, four_units // 4], projected.dtype)

    def step(t, h, c):
        z = projected[t] + tf.einsum("kbh,khg->kbg", h, recurrent)
        z = z + bias[:, None, :]
        z0, z1, z2, z3 = tf.split(z, 4, axis=-1)
        c = recurrent_activation(z1) * c + recurrent_activation(z0) * activation(z2)
        h = recurrent_activation(z3) * activation(c)
        return t + 1, h, c

    return tf.while_loop(
        lambda t, h, c: t < steps, step, (0, zeros, zeros), maximum_iterations=steps
    )[1]


class KerasEngine:
    """Any Keras model: setting ``k`` is ``model.stateless_call([w[k] for w in W], ...)``."""

    def __init__(self, model):
        self.key = ("keras", id(model))
        self.model = model
        self.context = {"final_layer": tuple(clipping.last_layer(model))}
        self.outputs = model.output_shape[-1]
        self.non_trainable = [v.value for v in model.non_trainable_variables]

    def probabilities_and_loss(self, weights, x, y, loss="sparse_categorical_crossentropy"):
        """As ``VectorizedEngine.probabilities_and_loss``, one copy of the model after the other."""
        outputs, losses, accuracies = [], [], []
        for i in range(weights[0].shape[0]):
            out, _ = self.model.stateless_call(
                [w[i] for w in weights], self.non_trainable, x, training=True
            )
            if loss == "mse":
                losses.append(tf.reduce_mean(tf.square(tf.cast(y, out.dtype)[:, None] - out)))
                accuracies.append(tf.constant(float("nan")))
            else:
                losses.append(tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, out)))
                correct = tf.equal(tf.argmax(out, axis=-1), tf.cast(y, tf.int64))
                accuracies.append(tf.reduce_mean(tf.cast(correct, tf.float32)))
            outputs.append(out)
        return tf.stack(outputs), tf.stack(losses), tf.stack(accuracies)
