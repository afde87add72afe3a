"""Gradient descent ``θ ← θ − η·clip(∇L(θ))`` on notebook 01's cliff (``theory.cliff_loss_and_grad``, two
parameters ``θ = (w, b)``), with ``clip`` Pascanu et al.'s norm clipping or nothing (notebook 03). NumPy, float64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from helpers import checks
from helpers.theory import cliff_loss_and_grad


class Trajectory(NamedTuple):
    """One gradient-descent run of ``steps`` updates."""

    points: (
        np.ndarray
    )  #: ``(steps + 1, 2)``: ``(w, b)`` before the first update, then after each update
    losses: np.ndarray  #: ``(steps + 1,)``: the loss at each point
    grad_norms: (
        np.ndarray
    )  #: ``(steps,)``: ``‖∇L‖`` before clipping, at the point each update starts from
    step_sizes: (
        np.ndarray
    )  #: ``(steps,)``: ``‖θ_{k+1} − θ_k‖``, the length of each update actually taken
    clipped: np.ndarray  #: ``(steps,)`` bool: whether clipping shortened that update


def clip_norm(g, threshold: float) -> np.ndarray:
    """Algorithm 1 of Pascanu et al. (2013) on a 1-D ``g`` in Keras's form, ``g·c / max(‖g‖, c)`` (safe at 0)."""
    g = checks.array("g", g, ndim=1).astype(np.float64)
    c = checks.positive("threshold", threshold)
    return g * c / max(float(np.linalg.norm(g)), c)


def descend_cliff(
    start, learning_rate: float, steps: int, threshold: float | None = None
) -> Trajectory:
    """The ``Trajectory`` of ``steps`` updates from ``start``.

    Args:
        start, learning_rate, steps: ``(w, b)``, ``η``, the number of updates.
        threshold: ``None`` (plain gradient descent) or the bound ``c`` of ``clip_norm``.
    """
    start = checks.array("start", start, shape=(2,)).astype(np.float64)
    if not np.all(np.isfinite(start)):
        raise ValueError(f"start must hold two finite numbers (w, b), got {start}")
    learning_rate = checks.positive("learning_rate", learning_rate)
    steps = checks.positive_int("steps", steps)
    if threshold is not None:
        threshold = checks.positive("threshold", threshold)
    points = np.empty((steps + 1, 2))
    losses = np.empty(steps + 1)
    grad_norms = np.empty(steps)
    clipped = np.zeros(steps, dtype=bool)
    points[0] = start
    with np.errstate(
        over="ignore"
    ):  # σ(x) for very negative x overflows exp(-x) to inf: σ is then exactly 0
        for k in range(steps):
            loss, dw, db = cliff_loss_and_grad(points[k, 0], points[k, 1])
            losses[k] = loss
            g = np.array([float(dw), float(db)])
            grad_norms[k] = np.linalg.norm(g)
            if threshold is not None:
                clipped[k] = grad_norms[k] > threshold
                g = clip_norm(g, threshold)
            points[k + 1] = points[k] - learning_rate * g
        losses[steps] = cliff_loss_and_grad(points[steps, 0], points[steps, 1])[0]
    step_sizes = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return Trajectory(points, losses, grad_norms, step_sizes, clipped)
