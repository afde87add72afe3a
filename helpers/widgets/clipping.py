"""Notebook 03's widgets: what clipping does to one gradient (``ClippingGeometry``), and to gradient descent on
notebook 01's cliff (``CliffDescent``)."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import tensorflow as tf

from helpers import checks, clipping, descent, theory
from helpers.widgets import LivePlot, float_slider, log_slider
from helpers.widgets.recurrence import log_limits

COLORS = {"raw": "C0", "norm": "C2", "value": "C3"}


def _angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between 2-D vectors ``a`` and ``b`` (shape ``(..., 2)``); 0 where either is zero."""
    cross = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    dot = np.sum(a * b, axis=-1)
    return np.degrees(np.abs(np.arctan2(cross, dot)))


class ClippingGeometry(LivePlot):
    """One 2-D gradient ``g = L·(cos θ, sin θ)`` and its norm-clipped and value-clipped versions at threshold ``c``
    (``helpers.clipping``), inside their limits (circle and box); beside them, the angle value clipping turns ``g``
    by, for every direction θ. After each redraw ``self.result`` holds the vectors, their lengths and that angle.
    """

    def __init__(self, length: float = 2.5, angle: float = 30.0, threshold: float = 1.0):
        length = checks.in_range("length", length, 0.1, 4.0)
        angle = checks.in_range("angle", angle, 0.0, 360.0)
        threshold = checks.in_range("threshold", threshold, 0.1, 3.0)
        super().__init__(
            {
                "length": float_slider("gradient length ‖g‖", length, 0.1, 4.0, 0.05),
                "angle": float_slider("angle θ (degrees)", angle, 0.0, 360.0, 1.0),
                "threshold": float_slider("threshold c", threshold, 0.1, 3.0, 0.05),
            },
            ncols=2,
            figsize=(
                9.6,
                3.4,
            ),  # 1152 x 408 px: with its controls and the line under it, one 1280x720 slide
        )
        self.ax, self.ax_angle = ax, ax_angle = self.axes
        ax.set(aspect="equal", xlim=(-4.3, 4.3), ylim=(-4.3, 4.3))
        ax.axhline(0, color="grey", lw=0.6)
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_xlabel(r"$\partial L/\partial \theta_1$ (gradient component 1)")
        ax.set_ylabel(r"$\partial L/\partial \theta_2$ (gradient component 2)")
        (self.circle,) = ax.plot(
            [], [], "--", color=COLORS["norm"], lw=1, label=r"$\|v\| = c$ (norm limit)"
        )
        (self.box,) = ax.plot(
            [], [], ":", color=COLORS["value"], lw=1.2, label=r"$|v_i| \leq c$ (value limit)"
        )
        self.vectors = {  # told apart by line style and arrowhead marker as well as colour
            name: ax.plot(
                [], [], style, markevery=[1], ms=8, color=COLORS[name], lw=lw, label=label
            )[0]
            for name, style, lw, label in (
                ("raw", "-o", 3.0, r"raw gradient $g$"),
                ("norm", "--s", 2.2, "norm-clipped (clipnorm)"),
                ("value", ":^", 2.2, "value-clipped (clipvalue)"),
            )
        }
        ax.legend(loc="lower left", fontsize=8)
        ax_angle.set(xlim=(0, 360), xticks=np.arange(0, 361, 45))
        ax_angle.set_xlabel(r"gradient direction $\theta$ (degrees)")
        ax_angle.set_ylabel("direction change by clipping (degrees)")
        (self.angle_curve,) = ax_angle.plot([], [], color=COLORS["value"], label="value clipping")
        (self.norm_curve,) = ax_angle.plot(
            [], [], "--", color=COLORS["norm"], label="norm clipping"
        )
        (self.angle_marker,) = ax_angle.plot([], [], "o", color="k", label=r"current $\theta$")
        ax_angle.legend(loc="upper right", fontsize=8)
        self.result: dict = {}

    def draw(self, length: float, angle: float, threshold: float) -> None:
        c = threshold
        g = length * np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
        grads = [tf.constant(g, tf.float64)]
        vectors = {
            "raw": g,
            "norm": clipping.clip_by_norm(grads, c)[0][0].numpy(),
            "value": clipping.clip_by_value(grads, c)[0][0].numpy(),
        }
        turn = float(_angle_between(g, vectors["value"]))
        lengths = {name: float(np.linalg.norm(v)) for name, v in vectors.items()}
        self.result = {**vectors, "angle_change": turn, "lengths": lengths}
        for name, v in vectors.items():
            self.vectors[name].set_data([0.0, v[0]], [0.0, v[1]])
        t = np.linspace(0, 2 * np.pi, 361)
        self.circle.set_data(c * np.cos(t), c * np.sin(t))
        self.box.set_data([-c, c, c, -c, -c], [-c, -c, c, c, -c])
        self.ax.set_title(
            rf"$\|g\|$ = {lengths['raw']:.2f}, norm-clipped {lengths['norm']:.2f}, "
            f"value-clipped {lengths['value']:.2f}",
            fontsize=9,
        )
        thetas = np.arange(0.0, 360.5, 0.5)
        directions = length * np.stack(
            [np.cos(np.radians(thetas)), np.sin(np.radians(thetas))], axis=-1
        )
        turns = _angle_between(directions, np.clip(directions, -c, c))
        self.angle_curve.set_data(thetas, turns)
        self.norm_curve.set_data(thetas, np.zeros_like(thetas))
        self.angle_marker.set_data([angle], [turn])
        self.ax_angle.set_ylim(-2, max(50.0, turns.max() * 1.1))
        self.ax_angle.set_title(
            f"value clipping turns this gradient by {turn:.1f}°; norm clipping by 0°", fontsize=9
        )
        self.result["threshold"] = c

    def summary(self) -> str:
        lengths, c = self.result["lengths"], self.result["threshold"]
        return (
            f"‖g‖ = {lengths['raw']:.2f}, c = {c:.2f}: norm clipping keeps the direction at length "
            f"{lengths['norm']:.2f}; value clipping gives length {lengths['value']:.2f} and turns g by "
            f"{self.result['angle_change']:.1f}°"
        )

    def describe(self) -> str:
        angle, c = self.values()["angle"], self.values()["threshold"]
        lengths = self.result["lengths"]
        return (
            f"Left: a 2-D gradient of length {lengths['raw']:.2f} at angle {angle:.0f}°, its norm-clipped version "
            f"(length {lengths['norm']:.2f}, same direction, limit: the dashed circle of radius c = {c:.2f}) and "
            f"its value-clipped version (length {lengths['value']:.2f}, limit: the dotted box). Right: the angle "
            f"value clipping turns a gradient of this length by, for every direction: "
            f"{self.result['angle_change']:.1f}° for this one; norm clipping turns none."
        )


class CliffDescent(LivePlot):
    """Gradient descent on the cliff (``descent.descend_cliff``), unclipped and norm-clipped: both trajectories
    on the loss surface, and the length of every update beside the longest clipped step ``η·c``. After each
    redraw ``self.runs`` holds both ``Trajectory``s.

    Args:
        start: the initial ``(w, b)``, inside ``window``.
        learning_rate, threshold: the initial ``η`` (0.01 to 10) and clipping bound ``c`` (0.05 to 5).
        steps: updates per run.
        window: ``((w_min, w_max), (b_min, b_max))``, the part of the loss surface drawn.
    """

    def __init__(
        self,
        start: tuple[float, float] = (5.5, -2.0),
        learning_rate: float = 0.5,
        threshold: float = 1.0,
        steps: int = 40,
        window: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 9.0), (-6.0, 2.0)),
    ):
        (w_low, w_high), (b_low, b_high) = checks.array("window", window, shape=(2, 2))
        if not (w_low < w_high and b_low < b_high):
            raise ValueError(
                f"window must be ((w_min, w_max), (b_min, b_max)) with min < max, got {window}"
            )
        start = checks.array("start", start, shape=(2,))
        checks.in_range("start[0] (w)", start[0], w_low, w_high)
        checks.in_range("start[1] (b)", start[1], b_low, b_high)
        learning_rate = checks.in_range("learning_rate", learning_rate, 0.01, 10.0)
        threshold = checks.in_range("threshold", threshold, 0.05, 5.0)
        self.steps = checks.positive_int("steps", steps)
        super().__init__(
            {
                "learning_rate": log_slider(
                    "learning rate η", learning_rate, 0.01, 10.0, step=0.05
                ),
                "threshold": float_slider("threshold c", threshold, 0.05, 5.0, 0.05),
                "start_w": float_slider("start w", float(start[0]), w_low, w_high, 0.05),
                "start_b": float_slider("start b", float(start[1]), b_low, b_high, 0.05),
            },
            ncols=2,
            figsize=(8.8, 3.7),
        )
        controls = list(self.controls.values())
        self.widget = W.VBox(
            [W.HBox(controls[:2]), W.HBox(controls[2:]), self.message, self.output, self.caption]
        )
        self.window = ((w_low, w_high), (b_low, b_high))
        self.ax, self.ax_steps = ax, ax_steps = self.axes
        w_grid, b_grid = np.meshgrid(
            np.linspace(w_low, w_high, 241), np.linspace(b_low, b_high, 241)
        )
        loss = theory.cliff_loss_and_grad(w_grid, b_grid)[0]
        image = ax.pcolormesh(w_grid, b_grid, loss, shading="auto", cmap="viridis")
        self.figure.colorbar(image, ax=ax, label=r"loss $(\sigma(x_{50}) - 0.7)^2$")
        ax.set(
            xlim=(w_low, w_high),
            ylim=(b_low, b_high),
            xlabel=r"recurrent weight $w$",
            ylabel=r"bias $b$",
        )
        (self.free_line,) = ax.plot([], [], "o-", color="C3", ms=3, lw=1.5, label="unclipped")
        (self.clipped_line,) = ax.plot(
            [], [], "s--", color="w", mec="k", mew=0.6, ms=4, lw=1.5, label="norm-clipped"
        )
        (self.start_marker,) = ax.plot([], [], "*", color="orange", ms=14, label="start")
        ax.legend(loc="lower left", fontsize=8)
        ax_steps.set(
            yscale="log",
            xlabel=r"update $k$",
            ylabel=r"step length $\|\theta_{k+1} - \theta_k\|$ (log)",
        )
        (self.free_steps,) = ax_steps.plot([], [], "o-", color="C3", ms=3, label="unclipped")
        (self.clipped_steps,) = ax_steps.plot([], [], "s--", color="C2", ms=3, label="norm-clipped")
        (self.limit_line,) = ax_steps.plot(
            [], [], ":", color="k", label=r"$\eta c$ (longest clipped step)"
        )
        ax_steps.legend(loc="upper left", fontsize=8)
        self.runs: dict[str, descent.Trajectory] = {}

    def draw(self, learning_rate: float, threshold: float, start_w: float, start_b: float) -> None:
        start = (start_w, start_b)
        free = descent.descend_cliff(start, learning_rate, self.steps)
        clipped = descent.descend_cliff(start, learning_rate, self.steps, threshold=threshold)
        self.runs = {"unclipped": free, "clipped": clipped}
        self.drawn = {"learning_rate": learning_rate, "threshold": threshold}
        self.free_line.set_data(free.points[:, 0], free.points[:, 1])
        self.clipped_line.set_data(clipped.points[:, 0], clipped.points[:, 1])
        self.start_marker.set_data([start_w], [start_b])
        k = np.arange(1, self.steps + 1)
        # a zero-length step (the gradient underflows to 0 on a plateau) has no place on a log axis
        self.free_steps.set_data(k, np.where(free.step_sizes > 0, free.step_sizes, np.nan))
        self.clipped_steps.set_data(k, np.where(clipped.step_sizes > 0, clipped.step_sizes, np.nan))
        zero = int(np.sum(free.step_sizes == 0) + np.sum(clipped.step_sizes == 0))
        self.limit_line.set_data([1, self.steps], [learning_rate * threshold] * 2)
        self.ax_steps.set_xlim(0, self.steps + 1)
        shown = np.concatenate([free.step_sizes, clipped.step_sizes, [learning_rate * threshold]])
        self.ax_steps.set_ylim(*log_limits(shown))
        (w_low, w_high), (b_low, b_high) = self.window
        where = "".join(
            f"; the {name} run ends OUTSIDE the plot at (w, b) = ({w:.3g}, {b:.3g})"
            for name, (w, b) in (("unclipped", free.points[-1]), ("clipped", clipped.points[-1]))
            if not (w_low <= w <= w_high and b_low <= b <= b_high)
        )
        self.ax.set_title(
            f"final loss: unclipped {free.losses[-1]:.3g}, clipped {clipped.losses[-1]:.3g}",
            fontsize=9,
        )
        self.ax_steps.set_title(
            f"longest step: unclipped {free.step_sizes.max():.3g}, clipped {clipped.step_sizes.max():.3g}",
            fontsize=9,
        )
        hidden = f" {zero} updates of length 0 are not drawn on the log axis." if zero else ""
        shortened = int(clipped.clipped.sum())
        self.message.value = (
            f"{shortened} of {self.steps} clipped updates were shortened{where}.{hidden}"
        )

    def describe(self) -> str:
        learning_rate, c, w, b = (
            self.values()[n] for n in ("learning_rate", "threshold", "start_w", "start_b")
        )
        free, clipped = self.runs["unclipped"], self.runs["clipped"]
        return (
            f"Left: the cliff's loss surface over w and b with {self.steps} steps of gradient descent from "
            f"(w, b) = ({w:.2f}, {b:.2f}) at learning rate {learning_rate:.3g}, unclipped (red) and norm-clipped "
            f"at c = {c:.2f} (white); final loss {free.losses[-1]:.3g} unclipped, {clipped.losses[-1]:.3g} "
            f"clipped. Right: the length of every update (log): longest {free.step_sizes.max():.3g} unclipped, "
            f"{clipped.step_sizes.max():.3g} clipped, at most ηc = {learning_rate * c:.3g}."
        )

    def summary(self) -> str:
        """Steps and losses; how many updates clipping shortened is the message line's (above the figure), so
        that this line fits one line of a 1280-px slide."""
        free, clipped = self.runs["unclipped"], self.runs["clipped"]
        return (
            f"η = {self.drawn['learning_rate']:.3g}, c = {self.drawn['threshold']:.3g}: longest step unclipped "
            f"{free.step_sizes.max():.3g}, clipped {clipped.step_sizes.max():.3g}; final loss unclipped "
            f"{free.losses[-1]:.3g}, clipped {clipped.losses[-1]:.3g}"
        )
