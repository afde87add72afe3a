"""Keras models for the lessons.

- ``article_lstm``: the source article's model, ``LSTM(10)`` then a 10-way softmax, on 28 time steps of 28
  features (Fashion-MNIST rows) (notebook 04).
"""

from __future__ import annotations

from helpers import checks


def article_lstm(units: int = 10, timesteps: int = 28, features: int = 28, classes: int = 10):
    """``Sequential([Input((timesteps, features)), LSTM(units), Dense(classes, softmax)])``, not compiled.

    Input ``(batch, timesteps, features)``; output ``(batch, classes)`` class probabilities. Seed first
    (``helpers.seed_everything``) for reproducible initial weights.
    """
    import keras

    units = checks.positive_int("units", units)
    timesteps = checks.positive_int("timesteps", timesteps)
    features = checks.positive_int("features", features)
    classes = checks.positive_int("classes", classes, minimum=2)
    return keras.Sequential(
        [
            keras.Input((timesteps, features)),
            keras.layers.LSTM(units, name="lstm"),
            keras.layers.Dense(classes, activation="softmax", name="softmax"),
        ],
        name="article_lstm",
    )
