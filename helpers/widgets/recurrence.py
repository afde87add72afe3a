"""Notebook 01's widgets: how a gradient sent back through a recurrence grows or shrinks with the distance.

- ``ScalarRecurrence``: ``|dh_T/dh_0| = |w|^T`` against ``T``, with ``w`` and the horizon as sliders.
- ``MatrixRecurrence``: ``‖∂h_k/∂h_0‖`` of ``h_t = σ(W h_{t-1} + x_t)`` for ``W`` at a chosen spectral radius,
  with the activation as a dropdown, against the linear prediction ``ρ^k``.
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from helpers import checks, theory
from helpers.widgets import LivePlot, float_slider, int_slider


class ScalarRecurrence(LivePlot):
    """``|w|^t`` for ``t = 0..T`` on a log axis; the dotted lines mark ``w = 0.9`` and ``w = 1.1`` for reference."""

    def __init__(self, w: float = 1.1, steps: int = 100):
        w = checks.in_range("w", w, 0.5, 1.5)
        steps = checks.positive_int("steps", steps, minimum=10, maximum=300)  # the slider's range
        super().__init__(
            {"w": float_slider("weight w", w, 0.5, 1.5, 0.01), "steps": int_slider("steps T", steps, 10, 300, 10)}
        )
        self.ax = self.axes[0]
        self.ax.set_yscale("log")
        self.ax.set_xlabel("steps back in time t")
        self.ax.set_ylabel("|dh_T / dh_(T-t)| = |w|^t")
        self.ax.axhline(1.0, color="grey", lw=0.8)
        self.references = [self.ax.plot([], [], ":", color="grey", label=f"w = {r}")[0] for r in (0.9, 1.1)]
        (self.line,) = self.ax.plot([], [], lw=2.5, color="C3")
        self.ax.legend(loc="upper left")

    def draw(self, w: float, steps: int) -> None:
        t = np.arange(steps + 1)
        for line, r in zip(self.references, (0.9, 1.1)):
            line.set_data(t, theory.scalar_jacobians(r, steps))
        values = theory.scalar_jacobians(w, steps)
        self.line.set_data(t, values)
        self.line.set_label(f"w = {w:.2f}")
        self.ax.legend(loc="upper left")
        self.ax.set_xlim(0, steps)
        self.ax.set_ylim(max(min(values.min(), 0.9**steps) / 3, 1e-30), max(values.max(), 1.1**steps) * 3)
        self.ax.set_title(f"after T = {steps} steps the factor is |w|^T = {values[-1]:.3g}")


class MatrixRecurrence(LivePlot):
    """``‖∂h_k/∂h_0‖₂`` of ``h_t = σ(W h_{t-1} + x_t)``, ``W = ρ·Q`` (32 units), against the linear ``ρ^k``."""

    def __init__(self, rho: float = 1.2, activation: str = "linear", steps: int = 100, size: int = 32):
        rho = checks.in_range("rho", rho, 0.5, 3.0)
        checks.one_of("activation", activation, theory.ACTIVATIONS)
        steps = checks.positive_int("steps", steps, minimum=10, maximum=300)  # the slider's range
        size = checks.positive_int("size", size)
        super().__init__(
            {
                "rho": float_slider("spectral radius ρ", rho, 0.5, 3.0, 0.05),
                "activation": W.Dropdown(options=list(theory.ACTIVATIONS), value=activation, description="σ"),
                "steps": int_slider("steps T", steps, 10, 300, 10),
            }
        )
        self.size = size
        self.ax = self.axes[0]
        self.ax.set_yscale("log")
        self.ax.set_xlabel("steps back in time k")
        self.ax.set_ylabel("‖∂h_k / ∂h_0‖ (spectral norm)")
        self.ax.axhline(1.0, color="grey", lw=0.8)
        (self.prediction,) = self.ax.plot([], [], "--", color="grey", label="linear prediction ρ^k")
        (self.line,) = self.ax.plot([], [], lw=2.5, color="C0", label="measured")
        self.ax.legend(loc="upper left")

    def draw(self, rho: float, activation: str, steps: int) -> None:
        matrix = theory.matrix_with_spectral_radius(rho, self.size, seed=0)
        measured = theory.recurrent_jacobian_norms(matrix, steps, activation)
        k = np.arange(steps + 1)
        predicted = rho**k
        self.prediction.set_data(k, predicted)
        self.line.set_data(k, measured)
        self.ax.set_xlim(0, steps)
        shown = np.concatenate([measured, predicted])
        shown = shown[np.isfinite(shown) & (shown > 0)]
        self.ax.set_ylim(max(shown.min() / 3, 1e-300), shown.max() * 3)
        self.ax.set_title(f"{activation}, ρ = {rho:.2f}: after {steps} steps ‖∂h_T/∂h_0‖ = {measured[-1]:.3g}")
