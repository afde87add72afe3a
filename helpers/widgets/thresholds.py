"""Notebook 05's widget: choose the threshold c of global-norm clipping from the recorded pre-clip norms of a run.

Here a *recipe* is a way to choose c from the norms (a multiple of the median, a percentile, or a point of Pascanu
et al.'s range), and the clipping rule is global norm at that c. Nothing is retrained: the widget shows which steps c
*would* have clipped in that
run (a clipped run would have taken other steps after the first clip).
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from helpers import checks
from helpers.training import History
from helpers.widgets import LivePlot, drawing_order, float_slider, log_slider

__all__ = [
    "PASCANU_RANGE",
    "RECIPES",
    "ThresholdExplorer",
    "clipped_steps",
    "log_ticks",
    "recorded_norms",
    "threshold",
]

#: Dropdown label of each recipe.
RECIPES = {
    "median": "multiple of the median",
    "percentile": "percentile",
    "pascanu": "Pascanu et al.: multiple of the mean",
}
#: Pascanu, Mikolov & Bengio (2013, §3.2): thresholds from half to ten times the average norm.
PASCANU_RANGE = (0.5, 10.0)
#: Parameter range of each recipe (the sliders' ends).
LIMITS = {"median": (0.1, 100.0), "percentile": (1.0, 99.9), "pascanu": PASCANU_RANGE}
CLIPPED, KEPT = "C3", "C0"
#: Each recipe's parameter: its control, and how the histogram's title names it.
PARAMETER = {"median": "multiple", "percentile": "percentile", "pascanu": "factor"}
DESCRIBE = {
    "median": "{:.3g} × median",
    "percentile": "percentile {:.3g}",
    "pascanu": "{:.3g} × mean",
}


def recorded_norms(norms) -> np.ndarray:
    """The recorded pre-clip norms, float64: a ``History``'s finite ``grad_norm`` entries or a 1-D array of at least
    2 finite positive numbers."""
    if isinstance(norms, History):
        values = norms.grad_norm.astype(np.float64)
        values = values[np.isfinite(values)]
    else:
        values = checks.array("norms", norms, ndim=1).astype(np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("norms must be finite (drop the NaN/inf step of a diverged run)")
    if values.size < 2:
        raise ValueError(f"norms must hold at least 2 recorded norms, got {values.size}")
    if np.any(values <= 0):
        raise ValueError("norms must be positive (they are gradient norms)")
    return values


def threshold(norms: np.ndarray, recipe: str, parameter: float) -> float:
    """The threshold c ``recipe`` gives on ``norms``.

    Args:
        norms: from ``recorded_norms``.
        recipe: ``"median"`` (``parameter`` × the median), ``"percentile"`` (NumPy's linear interpolation) or
            ``"pascanu"`` (``parameter`` × the mean).
        parameter: within ``LIMITS[recipe]``.
    """
    checks.one_of("recipe", recipe, tuple(RECIPES))
    low, high = LIMITS[recipe]
    parameter = checks.in_range("parameter", parameter, low, high)
    if recipe == "median":
        return float(parameter * np.median(norms))
    if recipe == "percentile":
        return float(np.percentile(norms, parameter))
    return float(parameter * np.mean(norms))


def log_ticks(axis, low: float, high: float) -> None:
    """Plain-number ticks (``0.2``, ``5``, ``1e-05``): 1-9 × a power of ten within a decade, 1, 2, 5 within two,
    else powers of ten; no minor labels (they run together on a short log axis).

    Args:
        axis: a log axis (e.g. ``ax.xaxis``).
        low, high: the span it shows.
    """
    decades = np.log10(high / low)
    subs = np.arange(1.0, 10.0) if decades < 0.8 else (1.0, 2.0, 5.0) if decades < 2.5 else (1.0,)
    axis.set_major_locator(LogLocator(subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def clipped_steps(norms: np.ndarray, c: float) -> np.ndarray:
    """Indices of the steps whose norm is above ``c`` (the steps global-norm clipping at ``c`` changes)."""
    c = checks.positive("c", c)
    return np.flatnonzero(norms > c)


class ThresholdExplorer(LivePlot):
    """A recipe and its parameter: the histogram of the norms and their trace, with the steps c would clip in red.
    After each redraw ``self.result`` holds ``recipe``, ``threshold``, ``clipped`` (step indices) and ``fraction``.

    Args:
        norms: a ``History`` or recorded pre-clip global norms (``recorded_norms``).
        recipe: a key of ``RECIPES``.
        multiple, percentile, factor: each recipe's starting parameter.
        title: what the trace's x label calls the run.
    """

    def __init__(
        self,
        norms,
        recipe: str = "percentile",
        multiple: float = 1.0,
        percentile: float = 90.0,
        factor: float = 1.0,
        title: str = "recorded run",
    ):
        self.norms = recorded_norms(norms)
        multiple, percentile, factor = _parameters(recipe, multiple, percentile, factor)
        controls = {
            "recipe": W.Dropdown(
                options=[(label, name) for name, label in RECIPES.items()],
                value=recipe,
                description="recipe",
            ),
            "multiple": log_slider("× median", multiple, *LIMITS["median"], step=0.05),
            "percentile": float_slider("percentile", percentile, *LIMITS["percentile"], 0.1),
            "factor": float_slider("× mean (Pascanu)", factor, *LIMITS["pascanu"], 0.1),
        }
        super().__init__(
            controls, ncols=2, figsize=(9.0, 3.3)
        )  # 1080 x 396 px: fits a 1280x720 slide
        self.ax_hist, self.ax_trace = self.axes
        self.result: dict = {}
        self.animated = self._histogram() + self._trace(title)
        for ax in self.axes:
            ax.set_title("placeholder", fontsize=11)  # room for the titles draw() writes
        self.figure.draw_without_rendering()  # constrained layout once: the panels do not move between updates
        self.figure.set_layout_engine("none")

    def _histogram(self) -> list:
        """The histogram panel; returns its artists that change, in drawing order."""
        ax, norms = self.ax_hist, self.norms
        self.bins = np.geomspace(norms.min() / 1.05, norms.max() * 1.05, 50)
        widths, zeros = np.diff(self.bins), np.zeros(len(self.bins) - 1)
        self.kept_bars = ax.bar(
            self.bins[:-1], zeros, widths, align="edge", color=KEPT, label="kept"
        )
        self.clipped_bars = ax.bar(
            self.bins[:-1],
            zeros,
            widths,
            align="edge",
            color=CLIPPED,
            hatch="//",
            edgecolor="white",
            label="would be clipped",
        )
        ax.set_xscale("log")
        ax.set_xlim(self.bins[0], self.bins[-1])
        log_ticks(ax.xaxis, self.bins[0], self.bins[-1])
        ax.set_ylim(0, 1.15 * np.histogram(norms, self.bins)[0].max())
        mean = float(np.mean(norms))
        span = ax.axvspan(
            PASCANU_RANGE[0] * mean,
            PASCANU_RANGE[1] * mean,
            color="C2",
            alpha=0.12,
            label=r"Pascanu: $\frac{1}{2}$ to $10\times$ the mean",
        )
        self.hist_line = ax.axvline(1.0, color="k", lw=1.5, label="threshold $c$")
        ax.set_xlabel(r"pre-clip global norm $\|g\|$ (log)")
        ax.set_ylabel("steps")
        legend = ax.legend(loc="upper right", fontsize=8)
        changing = [
            *self.kept_bars,
            *self.clipped_bars,
            span,
            self.hist_line,
            *ax.spines.values(),
            legend,
            ax.title,
        ]
        return drawing_order(
            ax, changing
        )  # the span tints the bars; spines and legend are drawn over them

    def _trace(self, title: str) -> list:
        """The norm-trace panel; returns its artists that change, in drawing order."""
        ax, norms = self.ax_trace, self.norms
        ax.semilogy(np.arange(norms.size), norms, color="0.55", lw=0.7, label=r"$\|g\|$ per step")
        (self.marks,) = ax.plot([], [], ".", color=CLIPPED, ms=4, label="would be clipped")
        self.trace_line = ax.axhline(1.0, color="k", lw=1.5, label="threshold $c$")
        ax.set_xlim(0, max(norms.size - 1, 1))
        ax.set_ylim(norms.min() / 2, norms.max() * 2)
        log_ticks(ax.yaxis, norms.min() / 2, norms.max() * 2)
        ax.set_xlabel(f"training step ({title})")
        ax.set_ylabel(r"$\|g\|$ (log)")
        legend = ax.legend(loc="upper right", fontsize=8)
        return drawing_order(
            ax, [self.marks, self.trace_line, *ax.spines.values(), legend, ax.title]
        )

    def draw(self, recipe: str, multiple: float, percentile: float, factor: float) -> None:
        """Redraw both panels for ``recipe``'s threshold.

        Args:
            recipe: a key of ``RECIPES``.
            multiple, percentile, factor: the controls' values (only ``recipe``'s is used).
        """
        multiple, percentile, factor = _parameters(recipe, multiple, percentile, factor)
        parameter = {"multiple": multiple, "percentile": percentile, "factor": factor}[
            PARAMETER[recipe]
        ]
        for control_recipe, name in PARAMETER.items():
            self.controls[name].disabled = (
                control_recipe != recipe
            )  # only the chosen recipe's slider acts
        c = threshold(self.norms, recipe, parameter)
        clipped = clipped_steps(self.norms, c)
        mask = self.norms > c  # the clipped steps
        kept_counts = np.histogram(self.norms[~mask], self.bins)[0]
        clipped_counts = np.histogram(self.norms[mask], self.bins)[0]
        for kept_bar, clipped_bar, kept, cut in zip(
            self.kept_bars, self.clipped_bars, kept_counts, clipped_counts
        ):
            kept_bar.set_height(kept)
            clipped_bar.set_y(kept)
            clipped_bar.set_height(cut)
        self.hist_line.set_xdata([c, c])
        self.trace_line.set_ydata([c, c])
        self.marks.set_data(clipped, self.norms[clipped])
        fraction = clipped.size / self.norms.size
        described = DESCRIBE[recipe].format(parameter)
        self.ax_hist.set_title(
            f"threshold c = {described} = {c:.3g}", fontsize=11
        )  # no mathtext: no re-parse
        self.ax_trace.set_title(
            f"{clipped.size} of {self.norms.size} steps ({fraction:.1%}) would be clipped",
            fontsize=11,
        )
        self.result = {
            "recipe": recipe,
            "threshold": c,
            "clipped": clipped,
            "fraction": fraction,
            "described": described,
        }

    def summary(self) -> str:
        result = self.result
        return (
            f"c = {result['described']} = {result['threshold']:.3g} would clip {result['clipped'].size} of "
            f"{self.norms.size} steps ({result['fraction']:.1%}) of the recorded run"
        )

    def describe(self) -> str:
        values = self.values()
        recipe, n, k = values["recipe"], self.norms.size, self.result["clipped"].size
        recipe_text = DESCRIBE[recipe].format(values[PARAMETER[recipe]])
        return (
            f"Left: histogram of the {n} recorded pre-clip gradient norms (log axis) with the threshold "
            f"c = {self.result['threshold']:.3g} ({recipe_text}) as a vertical line, the bars above it "
            f"red; right: the norm at every step, the steps above c marked. {k} of {n} steps "
            f"({self.result['fraction']:.1%}) would be clipped."
        )


def _parameters(
    recipe: str, multiple: float, percentile: float, factor: float
) -> tuple[float, float, float]:
    """The three parameters, checked against their ``LIMITS`` (and ``recipe`` against ``RECIPES``)."""
    checks.one_of("recipe", recipe, tuple(RECIPES))
    return (
        checks.in_range("multiple", multiple, *LIMITS["median"]),
        checks.in_range("percentile", percentile, *LIMITS["percentile"]),
        checks.in_range("factor", factor, *LIMITS["pascanu"]),
    )
