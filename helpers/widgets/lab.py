"""Notebook 04's clipping lab, and the static figure of training histories it shares its drawing with.

- ``plot_histories``: loss, accuracy, pre-clip global gradient norm (log axis, with each run's threshold) and the
  fraction of clipped steps of several ``helpers.training.History`` side by side; a diverged run is marked with an
  ``x`` at the step where it stopped.
- ``ClippingLab``: the same four panels for one setting and its unclipped reference (same learning rate), each
  drawn as the mean over at least 3 seeds with a min–max band (``helpers.training.train_seeds``: a seed sets the
  initial weights and the batch order); chosen with a mode dropdown (none / value / per-tensor norm / global norm;
  the threshold slider is disabled for "none"), a threshold slider and a learning-rate slider (both logarithmic). On
  release the missing runs (all seeds) are trained in one call with a progress bar in the widget, and the panels
  update in place; runs already trained are redrawn from a cache of per-seed histories at once (a setting's history
  is bitwise the same however it was grouped, so the grey reference equals a table printed with the same seeds).
  Training runs in a background thread: moving a control while it trains abandons that run at the next chunk, and
  only the last requested setting is trained (no queue of stale runs).
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import replace

import ipywidgets as W
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from helpers import checks, training
from helpers.training import History, Setting
from helpers.widgets import LivePlot, canvas_png, log_slider

__all__ = ["ClippingLab", "MODE_LABELS", "plot_histories"]

#: Dropdown labels of the clipping modes, with the Keras argument each one corresponds to.
MODE_LABELS = {
    "none": "no clipping",
    "value": "value (clipvalue)",
    "norm": "per-tensor norm (clipnorm)",
    "global_norm": "global norm (global_clipnorm)",
}
PANELS = ("loss", "accuracy", "grad_norm", "clipped")
#: The lab's figure: 100 dpi and no text under 9 pt, so the smallest text is 9 * 100 / 72 = 12.5 px at 100 % zoom.
DPI = 100
FONTSIZE = 9
FIGSIZE = (10.0, 5.4)
YLABELS = {
    "loss": "training loss (nats)",
    "accuracy": "batch accuracy",
    "grad_norm": "pre-clip global norm ‖g‖",
    "clipped": "fraction of steps clipped",
}

#: The lab draws running means of every panel (over ``window`` steps), the norm's too.
LAB_YLABELS = {"grad_norm": r"pre-clip norm $\|g\|$ (running mean)", "clipped": "fraction of steps clipped"}


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at every step (fewer at the start), same length."""
    cumulative = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    index = np.arange(1, len(values) + 1)
    return (cumulative[index] - cumulative[index - np.minimum(index, window)]) / np.minimum(index, window)


def _curve(history: History, name: str, window: int) -> np.ndarray:
    """The per-step values drawn for panel ``name``: running means over ``window`` steps of the loss, the accuracy
    and the clipped flag (as a fraction); the gradient norm unsmoothed (its spikes are the point). NaN/inf entries
    (only the last one, of a diverged run) are drawn as gaps."""
    values = getattr(history, name).astype(np.float64)
    finite = np.isfinite(values)
    if name == "grad_norm":
        return np.where(finite, values, np.nan)
    smooth = np.full(len(values), np.nan)
    count = int(np.argmin(finite)) if not finite.all() else len(values)
    smooth[:count] = _running_mean(values[:count], window)
    return smooth


def _divergence_point(history: History, name: str, window: int) -> tuple[float, float] | None:
    """Where to put the ``x`` of a diverged run on panel ``name``: the stopping step, at the last finite value."""
    if not history.diverged:
        return None
    values = _curve(history, name, window)
    finite = values[np.isfinite(values)]
    return float(history.diverged_at), float(finite[-1]) if len(finite) else 1.0


def _divergence_text(history: History) -> str:
    return f"NaN/inf at step {history.diverged_at}: stopped"


def plot_histories(histories, window: int = 50, labels=None, figsize=(12.0, 3.5)) -> Figure:
    """Four panels (loss, accuracy, pre-clip global norm on a log axis, clipped fraction) of ``histories`` against the
    step; running means over ``window`` steps; dotted lines are the norm thresholds; ``x`` marks a diverged run;
    one legend below the panels.
    Returns the matplotlib ``Figure`` (show it with ``display(fig)`` or ``plt.show()`` if made with pyplot)."""
    if isinstance(histories, History):
        histories = [histories]
    if isinstance(histories, str | bytes) or not isinstance(histories, Iterable):
        raise TypeError(f"histories must be a History or a list of them, got {type(histories).__name__}")
    histories = list(histories)
    if not histories or not all(isinstance(h, History) for h in histories):
        raise TypeError("histories must be a History or a non-empty list of History objects")
    window = checks.positive_int("window", window)
    if labels is None:
        labels = [h.setting.label for h in histories]
    if len(labels) != len(histories):
        raise ValueError(f"labels must have one entry per history ({len(histories)}), got {len(labels)}")
    figure = Figure(figsize=figsize, layout="constrained")
    axes = figure.subplots(1, 4)
    handles = []
    for color, (history, label) in enumerate(zip(histories, labels)):
        steps = np.arange(history.steps)
        for ax, name in zip(axes, PANELS):
            (line,) = ax.plot(
                steps,
                _curve(history, name, window),
                color=f"C{color}",
                lw=1.2 if name != "grad_norm" else 0.6,
                label=label,
            )
            point = _divergence_point(history, name, window)
            if point is not None:
                ax.plot(*point, "x", color=f"C{color}", ms=10, mew=2.5)
                ax.annotate(
                    _divergence_text(history),
                    point,
                    textcoords="offset points",
                    xytext=(6, -12),
                    fontsize=7,
                    color=f"C{color}",
                )
        handles.append(line)
        if history.setting.mode in ("norm", "global_norm"):
            axes[2].axhline(history.setting.threshold, color=f"C{color}", ls=":", lw=1.2)
    for ax, name in zip(axes, PANELS):
        ax.set_xlabel("training step")
        ax.set_ylabel(YLABELS[name])
    axes[2].set_yscale("log")
    axes[3].set_ylim(-0.02, 1.02)
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8)
    return figure


class ClippingLab(LivePlot):
    """Train the article's LSTM with a chosen clipping mode, threshold and learning rate over several seeds; see the
    module docstring.

    ``data``: ``(x_train, y_train)``; ``steps`` per run; ``optimizer``/``momentum``: fixed for every run
    (``helpers.training.Setting``); ``seeds``: a number ``n`` >= 3 (seeds ``0 .. n-1``) or a sequence of at least 3
    seeds, each setting the initial weights and the batch order (``helpers.training.train_seeds``).
    ``threshold_range``/``lr_range``: slider limits (log scale). ``background``: train in a background thread
    (False: train inside the callback, as the tests and the first display do). ``histories``: runs already trained
    (a ``SeedRuns`` or ``History`` objects, e.g. by the notebook) with the same ``steps`` and ``data``: they fill the
    cache (a run is found by its setting, seed included; runs are bitwise the same however they were grouped).
    ``train_kwargs`` go to ``helpers.training.train_seeds`` (e.g. ``chunk``).
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
        threshold_range = self._range("threshold_range", threshold_range)
        lr_range = self._range("lr_range", lr_range)
        checks.in_range("threshold", threshold, *threshold_range)
        checks.in_range("learning_rate", learning_rate, *lr_range)
        Setting(optimizer=optimizer, momentum=momentum)  # validates them
        self.fixed = {"optimizer": optimizer, "momentum": float(momentum)}
        self.seeds = training._seed_list(seeds)
        if len(self.seeds) < 3:
            raise ValueError(f"seeds must be at least 3 seeds (the lab draws their spread), got {list(self.seeds)}")
        if isinstance(histories, training.SeedRuns):
            histories = [h for row in histories.histories for h in row]
        self.train_kwargs = dict(train_kwargs)
        self.background = bool(background)
        self.cache: dict[Setting, History] = {}
        for history in histories:
            if not isinstance(history, History):
                raise TypeError(f"histories must hold History objects, got {type(history).__name__}")
            if history.steps_requested == self.steps and (history.steps == self.steps or history.diverged):
                self.cache[self.key(history.setting)] = history
        self.data = training.check_data(data, train_kwargs.get("model"), train_kwargs.get("loss", training.LOSSES[0]))
        self.runs: list[tuple[Setting, ...]] = []  # every group of settings trained, in order (tests count them)
        self.last_redraw_seconds = math.nan
        self.last_render_seconds = math.nan
        self._trained_seconds = math.nan
        self._fresh: set[Setting] = set()  # settings trained since the last draw (for the message)
        self._wanted: Setting | None = None
        self._worker: threading.Thread | None = None
        self._lock = threading.RLock()
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
        controls["threshold"].disabled = mode == "none"  # a threshold does nothing without clipping
        super().__init__(controls, nrows=2, ncols=2, figsize=FIGSIZE)
        self.progress = W.IntProgress(
            value=0, min=0, max=self.steps, description="training", layout=W.Layout(width="320px")
        )
        self.widget = W.VBox([W.HBox(list(self.controls.values())), W.HBox([self.progress, self.message]), self.output])
        self._build_artists()

    @staticmethod
    def _range(name, value):
        if not (isinstance(value, tuple | list) and len(value) == 2):
            raise TypeError(f"{name} must be a (low, high) pair of positive numbers, got {value!r}")
        low, high = checks.positive(f"{name}[0]", value[0]), checks.positive(f"{name}[1]", value[1])
        if not low < high:
            raise ValueError(f"{name} must have low < high, got {value!r}")
        return low, high

    # ------------------------------------------------------------------------------------------------ settings

    def setting(self, mode: str, threshold: float, learning_rate: float, seed: int = 0) -> Setting:
        """The ``Setting`` the controls stand for (the threshold is ignored for "none"); threshold and learning
        rate rounded to 4 significant digits, so that a slider position and a number typed in a notebook
        (10 ** -0.5 computed in JavaScript or in Python) name the same cached run."""
        threshold = None if mode == "none" else float(f"{threshold:.4g}")
        return Setting(mode, threshold, float(f"{learning_rate:.4g}"), seed=seed, **self.fixed)

    def key(self, setting: Setting) -> Setting:
        """The cache key of any ``Setting`` (rounded as in ``setting``, its seed kept)."""
        if (setting.optimizer, setting.momentum) != tuple(self.fixed.values()):
            return setting
        return self.setting(setting.mode, setting.threshold or 1.0, setting.learning_rate, setting.seed)

    def reference(self, setting: Setting) -> Setting:
        """The unclipped setting at ``setting``'s learning rate (drawn in grey)."""
        return self.setting("none", 1.0, setting.learning_rate)

    def group(self, setting: Setting) -> list[Setting]:
        """The settings drawn for ``setting``: itself and its unclipped reference (once if it is unclipped)."""
        return list(dict.fromkeys([self.key(setting), self.reference(setting)]))

    def _missing(self, setting: Setting) -> list[Setting]:
        with self._lock:
            return [s for s in self.group(setting) if any(replace(s, seed=x) not in self.cache for x in self.seeds)]

    def train_group(self, setting: Setting, cancelled=lambda: False) -> bool:
        """Train the settings of ``group(setting)`` not yet in the cache over all seeds (one ``train_seeds`` call),
        showing progress; ``False`` if ``cancelled()`` stopped it."""
        missing = self._missing(setting)
        if not missing:
            return True
        with self._lock:
            self.runs.append(tuple(missing))
        self.progress.value = 0
        self.progress.bar_style = "info"
        runs_text = f"{len(missing)} setting{'s' if len(missing) > 1 else ''} × {len(self.seeds)} seeds"
        self.message.value = f"training {runs_text} × {self.steps} steps …"

        def on_chunk(done):
            self.progress.value = done
            return not cancelled()

        started = time.perf_counter()
        runs = training.train_seeds(
            missing, self.data, self.steps, seeds=self.seeds, progress=False, on_chunk=on_chunk, **self.train_kwargs
        )
        histories = [h for row in runs.histories for h in row]
        if any(h.steps < h.steps_requested and not h.diverged for h in histories):
            self.progress.bar_style = "warning"
            return False
        with self._lock:
            for history in histories:
                self.cache[self.key(history.setting)] = history
        self.progress.value = self.steps
        self.progress.bar_style = "success"
        self._trained_seconds = time.perf_counter() - started
        self._fresh = set(missing)
        self._trained_text = runs_text
        return True

    # ------------------------------------------------------------------------------------------------ callbacks

    def _on_change(self, _change) -> None:
        values = self.values()
        self.controls["threshold"].disabled = values["mode"] == "none"
        setting = self.setting(**values)
        with self._lock:
            self._wanted = setting
        if not self._missing(setting) or not self.background:
            self.update()
            return
        self.message.value = "training …"
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="clipping-lab", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        """Background thread: train the latest wanted setting, abandon it when a newer one is wanted, then draw."""
        while True:
            with self._lock:
                target = self._wanted
                if target is None or not self._missing(target):
                    self._worker = None
                    return
            try:
                finished = self.train_group(target, cancelled=lambda target=target: self._wanted != target)
            except Exception as error:  # report in the widget: an exception in a thread would be lost
                self.message.value = f"<b>training failed:</b> {type(error).__name__}: {error}"
                with self._lock:
                    self._worker = None
                return
            with self._lock:
                current = self._wanted
            if finished and current == target:
                self.update()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the background training (if any) has finished (for tests and scripts)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)

    # ------------------------------------------------------------------------------------------------ drawing

    def _build_artists(self) -> None:
        """Static parts (axes, labels, legends) are drawn once per set of axis limits and legend entries and kept as
        a background; the curves and bands are "animated" artists drawn over it (blitting)."""
        self.figure.set_layout_engine("none")
        self.figure.set_dpi(DPI)
        self.dpi = DPI
        self.axes[0].get_gridspec().update(left=0.08, right=0.985, bottom=0.1, top=0.9, hspace=0.45, wspace=0.24)
        for ax in self.axes:
            ax.set_position(ax.get_subplotspec().get_position(self.figure))
            ax.tick_params(labelsize=FONTSIZE)
        FigureCanvasAgg(self.figure)
        self.panel = dict(zip(PANELS, self.axes))
        self.reference_line, self.line, self.cross, self.note = {}, {}, {}, {}
        self.bands: dict = {}
        for name, ax in self.panel.items():
            ax.set_xlabel("training step", fontsize=FONTSIZE)
            ax.set_ylabel(LAB_YLABELS.get(name, YLABELS[name]), fontsize=FONTSIZE)
            (self.reference_line[name],) = ax.plot([], [], color="0.45", lw=1.3, label="no clipping, same lr")
            (self.line[name],) = ax.plot([], [], color="C3", lw=1.6, label="this setting")
            (self.cross[name],) = ax.plot([], [], "x", color="k", ms=11, mew=2.5, label="a seed diverged (stopped)")
            self.note[name] = ax.annotate("", (0, 0), textcoords="offset points", xytext=(5, 5), fontsize=FONTSIZE)
        self.threshold_line = self.panel["grad_norm"].axhline(1.0, color="k", ls=":", lw=1.2, label="threshold c")
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
        self._background = None
        self._background_limits = None
        self.limits = None

    def seed_histories(self, setting: Setting) -> list[History]:
        """``setting``'s histories over the lab's seeds from the cache, training them first (in this thread) if
        needed."""
        self.train_group(setting)
        with self._lock:
            return [self.cache[replace(self.key(setting), seed=seed)] for seed in self.seeds]

    def history(self, setting: Setting) -> History:
        """``setting``'s history (its own seed) from the cache, training the lab's seeds first if needed."""
        self.train_group(setting)
        return self.cache[self.key(setting)]

    def _limits(self, bands: dict, threshold: float | None) -> tuple:
        """Axis limits that follow the drawn curves and bands, rounded to "nice" values (most redraws keep them)."""

        def finite(name, positive=False):
            values = np.concatenate([np.ravel(b) for b in bands[name]])
            keep = np.isfinite(values) & ((values > 0) if positive else True)
            return values[keep]

        loss, accuracy, norms = finite("loss"), finite("accuracy"), finite("grad_norm", positive=True)
        if threshold is not None:
            norms = np.append(norms, threshold)
        norms = norms if norms.size else np.array([1.0])
        # the powers of ten strictly beyond the norms and the threshold (a threshold of 0.1 is not drawn on the
        # edge), with a tolerance for round-off: 10**-1 from a log slider may be 0.1 plus one ulp
        low = 10.0 ** (math.ceil(math.log10(norms.min()) - 1e-9) - 1)
        high = 10.0 ** (math.floor(math.log10(norms.max()) + 1e-9) + 1)
        limits = {
            "loss": (0.0, _nice_ceiling(1.05 * loss.max()) if loss.size and loss.max() > 0 else 1.0),
            "accuracy": (
                0.0,
                min(1.0, _nice_ceiling(1.1 * accuracy.max())) if accuracy.size and accuracy.max() > 0 else 1.0,
            ),  # fmt: skip
            "grad_norm": (low, high),
            "clipped": (-0.02, 1.02),
        }
        return (self.steps, *(limits[name] for name in PANELS))

    def _legends(self, has_reference: bool, norm_rule: bool, diverged: bool) -> None:
        """Legends listing only what is drawn (part of the background)."""
        for ax in self.axes:
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        handles = [self.line["loss"]] + ([self.reference_line["loss"]] if has_reference else [])
        handles += [self.cross["loss"]] if diverged else []
        self.panel["loss"].legend(handles=handles, fontsize=FONTSIZE, loc="upper right", title_fontsize=FONTSIZE,
                                  title=f"line: mean of {len(self.seeds)} seeds, band: min–max")  # fmt: skip
        if norm_rule:
            self.panel["grad_norm"].legend(handles=[self.threshold_line], fontsize=FONTSIZE, loc="upper right")

    def draw(self, mode: str, threshold: float, learning_rate: float) -> None:
        from helpers import plots

        started = time.perf_counter()
        setting = self.setting(mode, threshold, learning_rate)
        self.controls["threshold"].disabled = mode == "none"
        histories = self.seed_histories(setting)
        reference_setting = self.reference(setting)
        references = None if reference_setting == setting else self.seed_histories(reference_setting)
        fresh, self._fresh = setting in self._fresh or reference_setting in self._fresh, set()
        norm_rule = setting.mode in ("norm", "global_norm")  # value clipping bounds entries, not norms
        bands = {name: [] for name in PANELS}
        drawn = {}
        for key, runs in (("line", histories), ("reference", references)):
            if runs is None:
                continue
            for name in PANELS:
                mean, low, high = plots.seed_band(runs, name, self.window)
                drawn[key, name] = (mean, low, high)
                bands[name] += [mean, low, high]
        diverged = [h for h in histories if h.diverged]
        with self._lock:
            for band in self.bands.values():
                band.remove()
            self.bands = {}
            for name, ax in self.panel.items():
                for key, artists, color in (("line", self.line, "C3"), ("reference", self.reference_line, "0.45")):
                    if (key, name) not in drawn:
                        artists[name].set_data([], [])
                        continue
                    mean, low, high = drawn[key, name]
                    steps = np.arange(len(mean))
                    artists[name].set_data(steps, mean)
                    band = ax.fill_between(steps, low, high, color=color, alpha=0.2, lw=0, animated=True)
                    self.bands[key, name] = band
                points = []
                for h in diverged:
                    curve = plots.smoothed_curve(h, name, self.window)
                    finite = curve[np.isfinite(curve)]
                    points.append((float(h.diverged_at), float(finite[-1]) if finite.size else 1.0))
                self.cross[name].set_data([p[0] for p in points], [p[1] for p in points])
                self.note[name].set_text(
                    f"{len(diverged)} of {len(histories)} seeds stopped (NaN/inf)" if points else ""
                )
                if points:
                    self.note[name].xy = points[0]
            self.threshold_line.set_visible(norm_rule)
            if norm_rule:
                self.threshold_line.set_ydata([setting.threshold, setting.threshold])
            self.title.set_text(self._title(setting, histories, references))
            limits = self._limits(bands, setting.threshold if norm_rule else None)
            for name, (low, high) in zip(PANELS, limits[1:]):
                self.panel[name].set_xlim(0, limits[0])
                self.panel[name].set_ylim(low, high)
            self.limits = (*limits, references is not None, norm_rule, bool(diverged))
            if self._background_limits != self.limits:
                self._legends(references is not None, norm_rule, bool(diverged))
        n = len(self.seeds)
        if diverged:
            steps = ", ".join(str(h.diverged_at) for h in diverged)
            self.message.value = (
                f"<b>diverged:</b> {len(diverged)} of {n} seeds hit a NaN/inf loss or gradient (at step {steps}) and "
                "were stopped there (marked ×)."
            )
        elif fresh:
            self.message.value = f"trained {self._trained_text} × {self.steps} steps in {self._trained_seconds:.1f} s"
        else:
            self.message.value = "from the cache"
        self.last_redraw_seconds = time.perf_counter() - started

    def _title(self, setting, histories, references) -> str:
        def stats(runs):
            losses = np.array([h.final_loss(self.window) for h in runs])
            finite = losses[np.isfinite(losses)]
            if not finite.size:
                return "all diverged"
            return f"{finite.mean():.3g} ± {finite.std(ddof=1) if finite.size > 1 else math.nan:.2g}"

        clipped = 100 * np.mean([h.clipped_fraction for h in histories])
        text = f"{setting.label}: final loss {stats(histories)} (mean ± sd, {len(histories)} seeds), "
        text += f"{clipped:.0f} % of steps clipped"
        if references is not None:
            wins = sum(a.final_loss(self.window) < b.final_loss(self.window) for a, b in zip(histories, references))
            text += f"\nno clipping: {stats(references)}; lower than no clipping in {wins} of {len(histories)} seeds"
        return text

    def png(self) -> bytes:
        """The figure as PNG bytes: the static background is redrawn only when the axis limits changed."""
        with self._lock:
            canvas = self.figure.canvas
            if self._background is None or self._background_limits != self.limits:
                canvas.draw()  # animated artists are skipped: this is the background
                self._background = canvas.copy_from_bbox(self.figure.bbox)
                self._background_limits = self.limits
            else:
                canvas.restore_region(self._background)
            for artist in [*self.bands.values(), *self.dynamic]:
                if artist.get_visible():
                    self.figure.draw_artist(artist)
            return canvas_png(canvas)

    def render(self) -> None:
        """Show the figure in the output area by replacing its outputs (safe from the training thread)."""
        started = time.perf_counter()
        data = {"image/png": base64.b64encode(self.png()).decode("ascii"), "text/plain": "<clipping lab>"}
        self.output.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)
        self.last_render_seconds = time.perf_counter() - started


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 7.5 times a power of ten that is >= ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0):
        if factor * power >= value * (1 - 1e-12):
            return factor * power
    return 10.0 * power
