"""Argument checks shared by every public helper: each raises a clear ``ValueError``/``TypeError``
that names the argument, what it got and what is allowed."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np


def real_number(name: str, value) -> float:
    """``value`` as a float; ``TypeError`` unless it is a real number (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def finite(name: str, value) -> float:
    """``value`` as a float; ``ValueError`` if it is NaN or infinite."""
    value = real_number(name, value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def positive(name: str, value) -> float:
    """``value`` as a float; ``ValueError`` unless it is finite and > 0."""
    value = finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def non_negative(name: str, value) -> float:
    """``value`` as a float; ``ValueError`` unless it is finite and >= 0."""
    value = finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def in_range(name: str, value, low: float, high: float) -> float:
    """``value`` as a float; ``ValueError`` unless ``low <= value <= high``."""
    value = finite(name, value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def positive_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int; ``TypeError`` unless it is an integer, ``ValueError`` outside ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value}")
    return int(value)


def one_of(name: str, value, allowed: Iterable[str]) -> str:
    """``value`` unchanged; ``ValueError`` listing ``allowed`` if it is not one of them."""
    allowed = tuple(allowed)
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def array(name: str, value, ndim: int | None = None, shape: tuple | None = None) -> np.ndarray:
    """``value`` as a float array; ``TypeError`` if it is not numeric, ``ValueError`` on a wrong
    number of dimensions or shape (``None`` in ``shape`` matches any length)."""
    try:
        result = np.asarray(value)
    except Exception as error:  # pragma: no cover - numpy raises many kinds
        raise TypeError(f"{name} must be array-like, got {type(value).__name__}") from error
    if not (np.issubdtype(result.dtype, np.number) or result.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {result.dtype}")
    if ndim is not None and result.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {result.shape}")
    if shape is not None:
        if result.ndim != len(shape) or any(s is not None and s != r for s, r in zip(shape, result.shape)):
            expected = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {expected}, got {result.shape}")
    return result
