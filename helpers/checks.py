"""Argument checks for every public helper: each returns the value and raises a ``ValueError``/``TypeError`` that
names the argument, what it got and what is allowed (bools are never numbers)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np


def finite(name: str, value) -> float:
    """``value`` as a float, a real number that is not NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def positive(name: str, value) -> float:
    """``value`` as a float, finite and > 0."""
    value = finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def non_negative(name: str, value) -> float:
    """``value`` as a float, finite and >= 0."""
    value = finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def in_range(name: str, value, low: float, high: float) -> float:
    """``value`` as a float in ``[low, high]``."""
    value = finite(name, value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def positive_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value}")
    return int(value)


def one_of(name: str, value, allowed: Iterable[str]) -> str:
    """``value``, one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def array(name: str, value, ndim: int | None = None, shape: tuple | None = None) -> np.ndarray:
    """``value`` as a numeric array of ``ndim`` dimensions or of ``shape`` (``None`` in it matches any length)."""
    try:
        result = np.asarray(value)
    except (
        Exception
    ) as error:  # a ragged list raises ValueError; an object's __array__ may raise anything
        raise TypeError(f"{name} must be array-like, got {type(value).__name__}") from error
    if not (np.issubdtype(result.dtype, np.number) or result.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {result.dtype}")
    if ndim is not None and result.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {result.shape}")
    if shape is not None:
        if result.ndim != len(shape) or any(
            s is not None and s != r for s, r in zip(shape, result.shape)
        ):
            expected = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {expected}, got {result.shape}")
    return result


def labelled_data(
    x, y, *, classes: int | None, x_name: str = "x", y_name: str = "y", x_shape: tuple | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` as arrays (``y`` as int64 when ``classes`` is given), checked: same non-zero length, finite inputs,
    whole-number labels in ``[0, classes)`` (or finite targets). Bad data is an error, never a diverged run.

    Args:
        x, y: the inputs ``(n, ...)`` and labels or targets ``(n,)``.
        classes: the number of classes, or ``None`` for float regression targets.
        x_name, y_name: the names used in messages.
        x_shape: ``x``'s shape (``None`` matches any length); default: at least 2 dimensions.
    """
    x = array(x_name, x, shape=x_shape)
    if x_shape is None and x.ndim < 2:
        raise ValueError(
            f"{x_name} must have a first axis of examples and at least 2 dimensions, got {x.shape}"
        )
    y = array(y_name, y, ndim=1)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"{x_name} and {y_name} must hold the same, non-zero number of examples, got {len(x)} and {len(y)}"
        )
    if not np.issubdtype(x.dtype, np.integer) and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(
            f"{x_name} must hold finite numbers only, got {x[tuple(bad)]} at index {tuple(int(i) for i in bad)}"
        )
    if classes is None:
        if not np.isfinite(y).all():
            raise ValueError(f"{y_name} must hold finite targets, got {y[~np.isfinite(y)][0]}")
        return x, y
    classes = positive_int("classes", classes)
    if y.dtype == bool:
        raise TypeError(f"{y_name} must hold integer class labels, got dtype bool")
    whole = (
        np.isfinite(y) & (y == np.round(y))
        if not np.issubdtype(y.dtype, np.integer)
        else np.ones(len(y), bool)
    )
    if not whole.all():
        raise ValueError(
            f"{y_name} must hold whole-number class labels in [0, {classes}), got {y[~whole][0]} "
            f"(index {int(np.argmin(whole))}); labels are never rounded or truncated"
        )
    outside = (y < 0) | (y >= classes)
    if outside.any():
        raise ValueError(
            f"{y_name} must hold class labels in [0, {classes}), "
            f"got {y[outside][0]:g} (index {int(np.argmax(outside))})"
        )
    return x, y.astype(np.int64)
