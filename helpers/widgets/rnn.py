"""Notebook 02's interactive figure: the gradient norm that reaches each time step of a real Keras recurrent layer.

Speed: one float64 model per (cell type, activation), built when first shown and kept for the session (shared by every
instance, so re-running the widget's cell compiles nothing again and TensorFlow has no retracing to warn about); moving
ρ only re-assigns its recurrent kernel and one compiled measurement per model serves every T
(``benchmarks/widget_update_rnn.py``).
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from helpers import checks
from helpers.data import adding_problem
from helpers.gradients import StepGradientNorms, linear_prediction, step_gradient_norms
from helpers.models import (
    RECURRENT_ACTIVATIONS,
    RECURRENT_CELLS,
    recurrent_model,
    set_spectral_radius,
)
from helpers.widgets import LivePlot, float_slider, int_slider
from helpers.widgets.recurrence import log_limits

__all__ = ["GradientNormsPlot"]

#: The models of every ``GradientNormsPlot``, by (units, cell, activation, seed): each set's weights before a draw.
_MODELS: dict[tuple[int, str, str, int], object] = {}


class GradientNormsPlot(LivePlot):
    """‖∂L/∂h_t‖ for t = 1..T on a log axis (``gradients.step_gradient_norms``) on adding-problem batches, the LSTM's
    ‖∂L/∂c_t‖ and, for the linear SimpleRNN, the prediction ``gradients.linear_prediction``; ρ, T, cell and activation
    are the controls. After an update ``result`` holds the ``StepGradientNorms`` drawn and ``prediction`` the
    prediction (or ``None``).

    Args:
        units, batch: hidden units of every model; sequences per measurement.
        max_length: the length slider's largest T.
        rho, length, cell, activation: the controls' initial values.
        seed: of the weights and the data.
    """

    def __init__(
        self,
        units: int = 32,
        batch: int = 16,
        max_length: int = 200,
        rho: float = 1.1,
        length: int = 50,
        cell: str = "SimpleRNN",
        activation: str = "linear",
        seed: int = 0,
    ):
        self.units = checks.positive_int("units", units)
        self.batch = checks.positive_int("batch", batch)
        max_length = checks.positive_int("max_length", max_length, minimum=10)
        rho = checks.in_range("rho", rho, 0.5, 1.5)
        length = checks.positive_int("length", length, minimum=2)
        if length > max_length:
            raise ValueError(f"length must be at most max_length={max_length}, got {length}")
        checks.one_of("cell", cell, RECURRENT_CELLS)
        checks.one_of("activation", activation, RECURRENT_ACTIVATIONS)
        self.seed = checks.positive_int("seed", seed, minimum=0)
        controls = {
            "rho": float_slider("spectral radius ρ", rho, 0.5, 1.5, 0.05),
            "length": int_slider("length T", length, 2, max_length, 1),
            "cell": W.Dropdown(options=list(RECURRENT_CELLS), value=cell, description="cell"),
            "activation": W.Dropdown(
                options=list(RECURRENT_ACTIVATIONS), value=activation, description="activation"
            ),
        }
        super().__init__(controls, figsize=(8.5, 3.6))
        self._data: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        ax = self.axes[0]
        ax.set(
            yscale="log",
            xlabel=r"time step $t$ (the loss is computed after step $T$)",
            ylabel="gradient norm (loss per unit of state)",
        )
        ax.grid(True, which="major", alpha=0.3)
        labels = {
            "hidden": r"measured $\|\partial L/\partial h_t\|$",
            "cell": "measured $\\|\\partial L/\\partial c_t\\|$\n(LSTM cell state)",
            "prediction": "predicted\n$\\rho^{T-t}\\,\\|\\partial L/\\partial h_T\\|$",
        }
        (self.hidden_line,) = ax.plot(
            [], [], "o-", ms=2.5, lw=1.2, color="C0", label=labels["hidden"]
        )
        (self.cell_line,) = ax.plot([], [], "s-", ms=2.0, lw=1.0, color="C2", label=labels["cell"])
        (self.prediction_line,) = ax.plot(
            [], [], "--", lw=2.0, color="C3", alpha=0.8, label=labels["prediction"]
        )
        self.result: StepGradientNorms | None = None
        self.prediction: np.ndarray | None = None

    def model(self, cell: str, activation: str):
        """The float64 model for ``(cell, activation)``, built once per session and kept (``_MODELS``)."""
        checks.one_of("cell", cell, RECURRENT_CELLS)
        checks.one_of("activation", activation, RECURRENT_ACTIVATIONS)
        key = (self.units, cell, activation, self.seed)
        if key not in _MODELS:
            _MODELS[key] = recurrent_model(
                cell, self.units, 1.0, activation, features=2, seed=self.seed, dtype="float64"
            )
        return _MODELS[key]

    def data(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """The adding-problem batch of length ``length`` (float64), made once per length."""
        length = checks.positive_int("length", length, minimum=2)
        if length not in self._data:
            self._data[length] = adding_problem(self.batch, length, seed=self.seed, dtype="float64")
        return self._data[length]

    def draw(self, rho: float, length: int, cell: str, activation: str) -> None:
        model = self.model(cell, activation)
        set_spectral_radius(model.get_layer("rnn"), rho, seed=self.seed)
        x, y = self.data(length)
        self.result = result = step_gradient_norms(model, x, y)
        linear = cell == "SimpleRNN" and activation == "linear"
        self.prediction = None
        if linear and np.isfinite(result.hidden[-1]):
            self.prediction = linear_prediction(rho, result.hidden[-1], length)
        steps = np.arange(1, length + 1)
        curves = {
            self.hidden_line: result.hidden,
            self.cell_line: result.cell,
            self.prediction_line: self.prediction,
        }
        for line, values in curves.items():
            line.set_data(*(([], []) if values is None else (steps, values)))
        shown = {line: values for line, values in curves.items() if values is not None}
        ax = self.axes[0]
        # outside the axes: loc="best" would search over every point at every update
        ax.legend(
            handles=list(shown), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small"
        )
        ax.set_ylim(*log_limits(np.concatenate(list(shown.values()))))
        ax.set_xlim(0.5, length + 0.5)
        ax.set_title(
            rf"{cell}, {activation}, $\rho$ = {rho:.2f}, $T$ = {length}", fontsize="medium"
        )
        self.message.value = self._summary(result, rho, length, linear)
        self.drawn = {"cell": cell, "activation": activation, "rho": rho, "length": length}

    def summary(self) -> str:
        hidden, drawn = self.result.hidden, self.drawn
        setting = f"{drawn['cell']}, {drawn['activation']}, ρ = {drawn['rho']:.2f}"
        if not np.all(np.isfinite(hidden)):
            return f"{setting}: the gradient overflows float64 on its way back over T = {drawn['length']} steps"
        ratio = hidden[0] / hidden[-1]
        trend = "grows" if ratio > 1 else "shrinks"
        text = (
            f"{setting}: the gradient that reaches step 1 is {ratio:.3g} × the one at step T = {drawn['length']} "
            f"(it {trend} on the way back)"
        )
        if self.prediction is not None:
            text += f"; the prediction ρ^(T−1) = {drawn['rho'] ** (drawn['length'] - 1):.3g}"
        return text

    def _summary(self, result: StepGradientNorms, rho: float, length: int, linear: bool) -> str:
        hidden = result.hidden
        if not np.all(np.isfinite(hidden)):
            first = int(np.argmax(~np.isfinite(hidden[::-1])))
            return (
                f"<b>Overflow:</b> the gradient is not finite from step {length - first} back "
                f"(float64 range exceeded); those steps are not drawn."
            )
        text = f"‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ = {hidden[0] / hidden[-1]:.3g} over {length - 1} steps back"
        if linear and self.prediction is not None:
            deviation = np.max(np.abs(hidden / self.prediction - 1.0))
            text += f"; ρ^(T−1) = {rho ** (length - 1):.3g}; largest relative gap to the prediction {deviation:.1e}"
        if result.cell is not None:
            text += f"; cell state ‖∂L/∂c_1‖ / ‖∂L/∂c_T‖ = {result.cell[0] / result.cell[-1]:.3g}"
        return text

    def describe(self) -> str:
        rho, length, cell, activation = (
            self.values()[n] for n in ("rho", "length", "cell", "activation")
        )
        lines = "circles" + (
            ", the LSTM's cell state ‖∂L/∂c_t‖ as squares" if self.result.cell is not None else ""
        )
        lines += ", the prediction ρ^(T−t)·‖∂L/∂h_T‖ dashed" if self.prediction is not None else ""
        summary = self._summary(self.result, rho, length, self.prediction is not None)
        summary = summary.replace("<b>", "").replace("</b>", "").rstrip(".")
        return (
            f"Log-scale plot of the measured gradient norm ‖∂L/∂h_t‖ at every time step t = 1 to {length} of a "
            f"{activation} {cell} layer with ρ = {rho:.2f} ({lines}). {summary}."
        )
