"""Notebook 01's widgets: how a gradient sent back through a recurrence grows or shrinks with the distance
(``ScalarRecurrence``, ``MatrixRecurrence``), and ``log_limits``, the log-axis rule of notebooks 01-03's widgets."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from helpers import checks, theory
from helpers.widgets import LivePlot, float_slider, int_slider, log_slider


def log_limits(values: np.ndarray, margin: float = 3.0) -> tuple[float, float]:
    """Log-axis limits a factor ``margin`` beyond the smallest and largest positive finite ``values``."""
    values = np.asarray(values, dtype=float)
    shown = values[np.isfinite(values) & (values > 0)]
    if shown.size == 0:
        return 0.1, 10.0
    return shown.min() / margin, shown.max() * margin


class ScalarRecurrence(LivePlot):
    """``|w|^t`` for ``t = 0..T`` on a log axis; the dotted lines mark ``w = 0.9`` and ``w = 1.1`` for reference."""

    def __init__(self, w: float = 1.1, steps: int = 100):
        w = checks.in_range("w", w, 0.5, 1.5)
        steps = checks.positive_int("steps", steps, minimum=10, maximum=300)  # the slider's range
        super().__init__(
            {
                "w": float_slider("weight w", w, 0.5, 1.5, 0.01),
                "steps": int_slider("steps T", steps, 10, 300, 10),
            }
        )
        self.ax = self.axes[0]
        self.ax.set(
            yscale="log",
            xlabel=r"steps back in time $t$",
            ylabel=r"$|\partial h_T/\partial h_{T-t}| = |w|^t$",
        )
        self.ax.axhline(1.0, color="grey", lw=0.8)
        self.references = [
            self.ax.plot([], [], ":", color="grey", label=f"w = {r}")[0] for r in (0.9, 1.1)
        ]
        (self.line,) = self.ax.plot([], [], lw=2.5, color="C3")
        self.ax.legend(loc="upper left")

    def draw(self, w: float, steps: int) -> None:
        t = np.arange(steps + 1)
        references = [theory.scalar_jacobians(r, steps) for r in (0.9, 1.1)]
        for line, values in zip(self.references, references):
            line.set_data(t, values)
        values = theory.scalar_jacobians(w, steps)
        self.line.set_data(t, values)
        self.line.set_label(f"w = {w:.2f}")
        self.ax.legend(loc="upper left")
        self.ax.set_xlim(0, steps)
        self.ax.set_ylim(*log_limits(np.concatenate([values, *references])))
        self.ax.set_title(rf"after $T$ = {steps} steps the factor is $|w|^T$ = {values[-1]:.3g}")
        self.result = {"w": w, "steps": steps, "factor": float(values[-1])}

    def summary(self) -> str:
        w, steps, factor = self.result["w"], self.result["steps"], self.result["factor"]
        trend = "grows" if factor > 1 else "shrinks" if factor < 1 else "keeps its size"
        return f"after T = {steps} steps the factor |w|^T = {factor:.3g}: the gradient {trend} (×{abs(w):.2f} per step)"

    def describe(self) -> str:
        w, steps = (self.values()[name] for name in ("w", "steps"))
        return (
            f"Log-scale plot of the factor |w|^t by which a gradient shrinks or grows t steps back, for "
            f"w = {w:.2f} (solid line) and for w = 0.9 and 1.1 (dotted): after T = {steps} steps it is "
            f"{self.line.get_ydata()[-1]:.3g}."
        )


class MatrixRecurrence(LivePlot):
    """``‖∂h_k/∂h_0‖₂`` of ``h_t = σ(W h_{t-1} + x_t)``, ``W = ρ·Q``, against the linear ``ρ^k``.

    Args:
        rho, activation, steps: the initial ``ρ``, ``σ`` (a key of ``theory.ACTIVATIONS``) and horizon ``T``.
        size: the number of units (the size of ``W``).
        input_scale: the standard deviation of the inputs ``x_t``: how saturated tanh and sigmoid units are.
    """

    def __init__(
        self,
        rho: float = 1.2,
        activation: str = "linear",
        steps: int = 100,
        size: int = 32,
        input_scale: float = 1.0,
    ):
        rho = checks.in_range("rho", rho, 0.5, 3.0)
        checks.one_of("activation", activation, theory.ACTIVATIONS)
        steps = checks.positive_int("steps", steps, minimum=10, maximum=300)  # the slider's range
        size = checks.positive_int("size", size)
        input_scale = checks.in_range("input_scale", input_scale, 0.01, 10.0)  # the slider's range
        super().__init__(
            {
                "rho": float_slider("spectral radius ρ", rho, 0.5, 3.0, 0.05),
                "activation": W.Dropdown(
                    options=list(theory.ACTIVATIONS), value=activation, description="σ"
                ),
                "steps": int_slider("steps T", steps, 10, 300, 10),
                "input_scale": log_slider("input scale s", input_scale, 0.01, 10.0),
            }
        )
        self.size = size
        self.ax = self.axes[0]
        self.ax.set(
            yscale="log",
            xlabel=r"steps back in time $k$",
            ylabel=r"$\|\partial h_k/\partial h_0\|_2$",
        )
        self.ax.axhline(1.0, color="grey", lw=0.8)
        (self.prediction,) = self.ax.plot(
            [], [], "--", color="grey", label=r"linear prediction $\rho^k$"
        )
        (self.line,) = self.ax.plot([], [], lw=2.5, color="C0", label="measured")
        self.ax.legend(loc="upper left")

    def draw(self, rho: float, activation: str, steps: int, input_scale: float) -> None:
        self.controls["input_scale"].disabled = (
            activation == "linear"
        )  # no effect on a linear recurrence
        matrix = theory.matrix_with_spectral_radius(rho, self.size, seed=0)
        measured = theory.recurrent_jacobian_norms(
            matrix, steps, activation, input_scale=input_scale
        )
        k = np.arange(steps + 1)
        predicted = rho**k
        self.prediction.set_data(k, predicted)
        self.line.set_data(k, measured)
        self.ax.set_xlim(0, steps)
        self.ax.set_ylim(*log_limits(np.concatenate([measured, predicted])))
        self.result = {
            "activation": activation,
            "rho": rho,
            "steps": steps,
            "measured": float(measured[-1]),
            "predicted": float(predicted[-1]),
        }
        inputs = "" if activation == "linear" else f", s = {input_scale:.3g}"
        self.ax.set_title(
            rf"{activation}, $\rho$ = {rho:.2f}{inputs}: $\|\partial h_T/\partial h_0\|$ = {measured[-1]:.3g}"
        )

    def describe(self) -> str:
        rho, activation, steps, scale = (
            self.values()[n] for n in ("rho", "activation", "steps", "input_scale")
        )
        inputs = "" if activation == "linear" else f", input scale {scale:.3g}"
        return (
            f"Log-scale plot of the gradient norm ‖∂h_k/∂h_0‖ over k = 0 to {steps} steps for a {activation} "
            f"recurrence with spectral radius ρ = {rho:.2f}{inputs} (solid line) against the linear prediction "
            f"ρ^k (dashed): after {steps} steps it is {self.line.get_ydata()[-1]:.3g}, the prediction "
            f"{rho**steps:.3g}."
        )

    def summary(self) -> str:
        result = self.result
        trend = "grows" if result["measured"] > 1 else "shrinks"
        return (
            f"{result['activation']}, ρ = {result['rho']:.2f}: after T = {result['steps']} steps "
            f"‖∂h_T/∂h_0‖ = {result['measured']:.3g} (it {trend}); the linear prediction ρ^T = "
            f"{result['predicted']:.3g}"
        )
