"""Notebook 04's clipping lab: a **mode**, its **threshold** c and a learning rate chosen with a dropdown and two log
sliders; the four ``helpers.plots.PANELS`` for that setting and its unclipped reference (grey), each the mean over
the seeds with a min–max band. Missing runs are trained on release (``helpers.lab_trainer``), cached ones redrawn at
once.
"""

from __future__ import annotations

import math

import ipywidgets as W
import numpy as np

from helpers import checks, clipping
from helpers.lab_trainer import LabTrainer
from helpers.plots import PANEL_LABELS, PANELS, seed_band, smoothed_curve, stop_point
from helpers.training import History, Setting
from helpers.widgets import LivePlot, log_slider

__all__ = ["MODE_LABELS", "ClippingLab"]

#: Dropdown label of each mode, with its Keras argument.
MODE_LABELS = {
    mode: clipping.LABELS[mode]
    + (f" ({clipping.KERAS_ARGUMENT[mode]})" if mode in clipping.KERAS_ARGUMENT else "")
    for mode in clipping.MODES
}
#: 100 dpi and no text under 9 pt: the smallest text is 12.5 px at 100 % zoom.
DPI = 100
FONTSIZE = 9
FIGSIZE = (10.0, 5.4)
YLABELS = {**PANEL_LABELS, "grad_norm": r"pre-clip norm $\|g\|$ (running mean)"}
GREY, RED = "0.45", "C3"


class ClippingLab(LivePlot):
    """The article's LSTM trained over the seeds with the chosen mode, threshold and learning rate.

    Args:
        data, steps, seeds, histories, train_kwargs: as in ``helpers.lab_trainer.LabTrainer``.
        mode, threshold, learning_rate: the controls' starting values.
        optimizer, momentum: fixed for every run.
        threshold_range, lr_range: slider limits.
        window: steps of the running means.
        background: train in a background thread (False: inside the callback, as the first display does).
    """

    def __init__(
        self,
        data,
        steps: int = 500,
        mode: str = "global_norm",
        threshold: float = 1.0,
        learning_rate: float = 1.0,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        seeds=3,
        threshold_range=(1e-3, 1e2),
        lr_range=(1e-3, 10.0),
        window: int = 50,
        background: bool = True,
        histories=(),
        **train_kwargs,
    ):
        self.steps = checks.positive_int("steps", steps)
        self.window = checks.positive_int("window", window)
        checks.one_of("mode", mode, tuple(MODE_LABELS))
        threshold_range = _range("threshold_range", threshold_range)
        lr_range = _range("lr_range", lr_range)
        checks.in_range("threshold", threshold, *threshold_range)
        checks.in_range("learning_rate", learning_rate, *lr_range)
        Setting(optimizer=optimizer, momentum=momentum)  # checks them
        fixed = {"optimizer": optimizer, "momentum": float(momentum)}
        self.trainer = LabTrainer(data, self.steps, seeds, fixed, histories, **train_kwargs)
        self.background = bool(background)
        self._fresh: set[Setting] = set()  # settings trained since the last draw
        self._trained_text = ""
        controls = {
            "mode": W.Dropdown(
                options=[(label, value) for value, label in MODE_LABELS.items()],
                value=mode,
                description="clipping",
                style={"description_width": "initial"},
            ),
            "threshold": log_slider("threshold c", threshold, *threshold_range),
            "learning_rate": log_slider("learning rate", learning_rate, *lr_range),
        }
        controls["threshold"].disabled = mode == "none"
        super().__init__(controls, nrows=2, ncols=2, figsize=FIGSIZE)
        self.progress = W.IntProgress(
            value=0, min=0, max=self.steps, description="training", layout=W.Layout(width="320px")
        )
        self.widget = W.VBox(
            [
                W.HBox(list(self.controls.values())),
                W.HBox([self.progress, self.message]),
                self.output,
                self.caption,
            ]
        )
        self._build_artists()

    def training_started(self, missing: list[Setting]) -> None:
        """The progress bar and message while ``missing`` trains (``helpers.lab_trainer.Progress``)."""
        self.progress.value, self.progress.bar_style = 0, "info"
        self.message.value = f"training {self._group_text(missing)} …"

    def training_step(self, done: int) -> None:
        self.progress.value = done

    def training_finished(self, missing: list[Setting], finished: bool, seconds: float) -> None:
        if not finished:
            self.progress.bar_style = "warning"
            return
        self.progress.value, self.progress.bar_style = self.steps, "success"
        self._fresh = set(missing)
        self._trained_text = f"trained {self._group_text(missing)} in {seconds:.1f} s"

    def _group_text(self, missing: list[Setting]) -> str:
        seeds = len(self.trainer.seeds)
        return f"{len(missing)} setting{'s' if len(missing) > 1 else ''} × {seeds} seeds × {self.steps} steps"

    def _on_change(self, change) -> None:
        self.changed = self._name(change)
        values = self.values()
        self.controls["threshold"].disabled = values["mode"] == "none"
        setting = self.trainer.setting(**values)
        self.trainer.wanted(setting)
        if not self.trainer.missing(setting) or not self.background:
            self.update()
            return
        self.message.value = "training …"
        self.caption.value = (
            f"{self.describe_control(self.changed)} → training …" if self.changed else "training …"
        )
        self.trainer.request(self, self.update, self._failed)

    def _failed(self, error: Exception) -> None:
        self.message.value = f"<b>training failed:</b> {type(error).__name__}: {error}"

    def _build_artists(self) -> None:
        """Axes, labels and legends are the blitted background (redrawn when ``background_key`` changes: limits and
        legend entries); curves, bands, marks and texts are animated."""
        self.figure.set_layout_engine("none")
        self.dpi = DPI
        self.axes[0].get_gridspec().update(
            left=0.08, right=0.985, bottom=0.1, top=0.9, hspace=0.45, wspace=0.24
        )
        self.panel = dict(zip(PANELS, self.axes))
        self.reference_line, self.line, self.cross, self.note = {}, {}, {}, {}
        self.bands: dict = {}
        for name, ax in self.panel.items():
            ax.set_position(ax.get_subplotspec().get_position(self.figure))
            ax.tick_params(labelsize=FONTSIZE)
            ax.set_xlabel("training step", fontsize=FONTSIZE)
            ax.set_ylabel(YLABELS[name], fontsize=FONTSIZE)
            (self.reference_line[name],) = ax.plot(
                [], [], "--", color=GREY, lw=1.3, label="no clipping, same lr"
            )
            (self.line[name],) = ax.plot([], [], color=RED, lw=1.6, label="this setting")
            (self.cross[name],) = ax.plot(
                [], [], "x", color="k", ms=11, mew=2.5, label="a seed diverged (stopped)"
            )
            self.note[name] = ax.annotate(
                "", (0, 0), textcoords="offset points", xytext=(5, 5), fontsize=FONTSIZE
            )
        self.threshold_line = self.panel["grad_norm"].axhline(
            1.0, color="k", ls=":", lw=1.2, label="threshold c"
        )
        self.panel["grad_norm"].set_yscale("log")
        self.title = self.figure.suptitle("", fontsize=FONTSIZE + 1)
        self.dynamic = [
            *self.reference_line.values(),
            *self.line.values(),
            *self.cross.values(),
            *self.note.values(),
            self.threshold_line,
            self.title,
        ]
        for artist in self.dynamic:
            artist.set_animated(True)
        self.limits = None

    def background_key(self):
        return self.limits

    def draw(self, mode: str, threshold: float, learning_rate: float) -> None:
        """Draw the controls' setting and its reference, training what is missing first (in this thread).

        Args:
            mode, threshold, learning_rate: the controls' values.
        """
        setting = self.trainer.setting(mode, threshold, learning_rate)
        self.controls["threshold"].disabled = mode == "none"
        self.trainer.train_missing(setting, progress=self)
        histories = self.trainer.seed_histories(setting)
        reference = self.trainer.reference(setting)
        references = None if reference == setting else self.trainer.seed_histories(reference)
        fresh = bool({setting, reference} & self._fresh)
        self._fresh = set()
        norm_rule = setting.mode in (
            "norm",
            "global_norm",
        )  # value clipping bounds entries, not norms
        groups = {"line": histories, "reference": references}
        drawn = {
            (key, name): seed_band(runs, name, self.window)
            for key, runs in groups.items()
            if runs is not None
            for name in PANELS
        }
        diverged = [h for h in histories if h.diverged]
        with self.lock:
            self._draw_curves(drawn, diverged)
            self.threshold_line.set_visible(norm_rule)
            if norm_rule:
                self.threshold_line.set_ydata([setting.threshold, setting.threshold])
            self.title.set_text(self._title(setting, histories, references))
            self.drawn_text = self._title(setting, histories, references).replace("\n", "; ")
            limits = _limits(drawn, setting.threshold if norm_rule else None)
            for name, (low, high) in zip(PANELS, limits):
                self.panel[name].set_xlim(0, self.steps)
                self.panel[name].set_ylim(low, high)
            key = (*limits, references is not None, norm_rule, bool(diverged))
            if key != self.limits:
                self._legends(references is not None, norm_rule, bool(diverged))
            self.limits = key
            self.animated = [*self.bands.values(), *self.dynamic]
        if diverged:
            steps = ", ".join(str(h.diverged_at) for h in diverged)
            self.message.value = (
                f"<b>diverged:</b> {len(diverged)} of {len(histories)} seeds hit a NaN/inf loss or "
                f"gradient (at step {steps}) and were stopped there (marked ×)."
            )
        else:
            self.message.value = self._trained_text if fresh else "from the cache"

    def summary(self) -> str:
        return self.drawn_text

    def _draw_curves(self, drawn: dict, diverged: list[History]) -> None:
        """Set the lines and bands of ``drawn`` (``seed_band`` by ``("line" or "reference", panel)``) and mark the
        ``diverged`` runs."""
        for band in self.bands.values():
            band.remove()
        self.bands = {}
        for name, ax in self.panel.items():
            for key, lines, color in (
                ("line", self.line, RED),
                ("reference", self.reference_line, GREY),
            ):
                mean, low, high = drawn.get((key, name), ([], [], []))
                steps = np.arange(len(mean))
                lines[name].set_data(steps, mean)
                if len(mean):
                    self.bands[key, name] = ax.fill_between(
                        steps, low, high, color=color, alpha=0.2, lw=0, animated=True
                    )
            points = [stop_point(h, smoothed_curve(h, name, self.window)) for h in diverged]
            self.cross[name].set_data([p[0] for p in points], [p[1] for p in points])
            seeds = len(self.trainer.seeds)
            self.note[name].set_text(
                f"{len(diverged)} of {seeds} seeds stopped (NaN/inf)" if points else ""
            )
            if points:
                self.note[name].xy = points[0]

    def _legends(self, has_reference: bool, norm_rule: bool, diverged: bool) -> None:
        """Legends listing only what is drawn."""
        for ax in self.axes:
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        handles = [self.line["loss"]] + ([self.reference_line["loss"]] if has_reference else [])
        handles += [self.cross["loss"]] if diverged else []
        self.panel["loss"].legend(
            handles=handles,
            fontsize=FONTSIZE,
            loc="upper right",
            title_fontsize=FONTSIZE,
            title=f"line: mean of {len(self.trainer.seeds)} seeds, band: min–max",
        )
        if norm_rule:
            self.panel["grad_norm"].legend(
                handles=[self.threshold_line], fontsize=FONTSIZE, loc="upper right"
            )

    def _title(
        self, setting: Setting, histories: list[History], references: list[History] | None
    ) -> str:
        """Final losses (mean ± sd over the seeds), the clipped fraction and the wins over ``references`` (the
        reference's runs, ``None`` if ``setting`` is unclipped)."""

        def stats(runs):
            losses = np.array([h.final_loss(self.window) for h in runs])
            finite = losses[np.isfinite(losses)]
            if not finite.size:
                return "all diverged"
            return (
                f"{finite.mean():.3g} ± {finite.std(ddof=1) if finite.size > 1 else math.nan:.2g}"
            )

        clipped = 100 * np.mean([h.clipped_fraction for h in histories])
        text = (
            f"{setting.label}: final loss {stats(histories)} (mean ± sd, {len(histories)} seeds), "
        )
        text += f"{clipped:.0f} % of steps clipped"
        if references is not None:
            wins = sum(
                a.final_loss(self.window) < b.final_loss(self.window)
                for a, b in zip(histories, references)
            )
            text += f"\nno clipping: {stats(references)}; lower than no clipping in {wins} of {len(histories)} seeds"
        return text

    def describe(self) -> str:
        text = self.title.get_text().replace("\n", "; ")
        return (
            f"Four panels over {self.steps} training steps, running means over {self.window} steps: training loss, "
            f"batch accuracy, pre-clip gradient norm (log) and fraction of steps clipped, for this setting (red "
            f"line: mean over the seeds, band: min to max) and without clipping at the same learning rate "
            f"(grey). {text}."
        )


def _range(name: str, value) -> tuple[float, float]:
    if not (isinstance(value, tuple | list) and len(value) == 2):
        raise TypeError(f"{name} must be a (low, high) pair of positive numbers, got {value!r}")
    low, high = checks.positive(f"{name}[0]", value[0]), checks.positive(f"{name}[1]", value[1])
    if not low < high:
        raise ValueError(f"{name} must have low < high, got {value!r}")
    return low, high


def _limits(drawn: dict, threshold: float | None) -> tuple:
    """The y limits of each panel around the ``drawn`` bands and ``threshold`` (if not ``None``), rounded to "nice"
    values so that most redraws keep them."""

    def finite(name):
        values = np.concatenate(
            [np.ravel(band) for (_, panel), band in drawn.items() if panel == name]
        )
        return values[np.isfinite(values)]

    loss, accuracy, norms = finite("loss"), finite("accuracy"), finite("grad_norm")
    norms = norms[norms > 0]
    if threshold is not None:
        norms = np.append(norms, threshold)
    norms = norms if norms.size else np.array([1.0])
    # powers of ten strictly beyond (a threshold of 0.1 is not on the edge), with a tolerance: 10**-1 from a log
    # slider may be 0.1 plus one ulp
    low = 10.0 ** (math.ceil(math.log10(norms.min()) - 1e-9) - 1)
    high = 10.0 ** (math.floor(math.log10(norms.max()) + 1e-9) + 1)
    loss_high = _nice_ceiling(1.05 * loss.max()) if loss.size and loss.max() > 0 else 1.0
    accuracy_high = (
        min(1.0, _nice_ceiling(1.1 * accuracy.max()))
        if accuracy.size and accuracy.max() > 0
        else 1.0
    )
    return (0.0, loss_high), (0.0, accuracy_high), (low, high), (-0.02, 1.02)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 7.5 times a power of ten that is >= ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(
        f * power
        for f in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0)
        if f * power >= value * (1 - 1e-12)
    )
