"""Figures of training runs (notebooks 04 and 05), their descriptions (alt texts for ``helpers.show``) and the curves
notebook 04's lab draws.

A diverged run (NaN/inf loss or gradient) stopped there: it is marked ``x`` at that step and its curves end. Curves
differ by line style and marker (``STYLES``) as well as by colour.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from matplotlib.figure import Figure

from helpers import checks
from helpers.training import History, SeedRuns

__all__ = [
    "PANELS",
    "PANEL_LABELS",
    "STYLES",
    "describe_lr_sweep",
    "describe_seed_runs",
    "plot_lr_sweep",
    "plot_seed_runs",
    "seed_band",
    "smoothed_curve",
    "stop_point",
]

#: What a ``History`` records per step, in panel order.
PANELS = ("loss", "accuracy", "grad_norm", "clipped")
#: y-axis label of each panel.
PANEL_LABELS = {
    "loss": "training loss (nats)",
    "accuracy": "batch accuracy",
    "grad_norm": r"pre-clip global norm $\|g\|$",
    "clipped": "fraction of steps clipped",
}
#: Line style and marker per curve, so that curves differ without colour too.
STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"))
#: Markers per curve at most, spread along it (a marker at every step would hide the line).
MARKERS_PER_CURVE = 8


def _style(index: int, steps: int) -> dict:
    """The ``plot`` keywords of curve ``index`` of ``steps`` points: its colour, line style and sparse markers, each
    curve's markers shifted along it (curves that coincide still show every curve's markers)."""
    line, marker = STYLES[index % len(STYLES)]
    every = max(1, steps // MARKERS_PER_CURVE)
    return {
        "color": f"C{index}",
        "ls": line,
        "marker": marker,
        "ms": 4,
        "markevery": (index % len(STYLES) * every // len(STYLES), every),
    }


def smoothed_curve(history: History, name: str, window: int = 50) -> np.ndarray:
    """``history.smoothed(name, window)``, also for ``"clipped"`` (the fraction of steps clipped), NaN from the
    step a diverged run stopped.

    Args:
        history: one run.
        name: one of ``PANELS``.
        window: steps of the running mean.
    """
    if name == "clipped":  # History.smoothed takes only the float records
        history, name = replace(history, loss=history.clipped), "loss"
    curve = history.smoothed(name, window)
    finite = np.isfinite(getattr(history, name))
    if not finite.all():
        curve[np.argmin(finite) :] = np.nan
    return curve


def seed_band(histories, name: str, window: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, low, high)`` of the seeds' ``smoothed_curve`` at each step, over the seeds still running (NaN where
    none is).

    Args:
        histories: one setting's runs, one per seed.
        name, window: as in ``smoothed_curve``.
    """
    curves = [smoothed_curve(h, name, window) for h in histories]
    length = max(len(c) for c in curves)
    stacked = np.full((len(curves), length), np.nan)
    for row, curve in zip(stacked, curves):
        row[: len(curve)] = curve
    running = np.isfinite(stacked).any(axis=0)
    bands = np.full((3, length), np.nan)
    for row, statistic in zip(bands, (np.nanmean, np.nanmin, np.nanmax)):
        row[running] = statistic(stacked[:, running], axis=0)
    return tuple(bands)


def stop_point(history: History, curve: np.ndarray, fallback=(1.0,)) -> tuple[float, float] | None:
    """``(step, height)`` of a diverged run's ``x``: the step it stopped, at the last finite value of ``curve``, else
    of ``fallback``; ``None`` if the run did not diverge or neither has a finite value.

    Args:
        history: the run.
        curve: what the panel draws for it (e.g. ``smoothed_curve``).
        fallback: values to take the height from when ``curve`` has none (e.g. the band's top).
    """
    fallback = np.asarray(fallback, dtype=np.float64)
    values = (
        curve[np.isfinite(curve)] if np.isfinite(curve).any() else fallback[np.isfinite(fallback)]
    )
    if not history.diverged or not values.size:
        return None
    return float(history.diverged_at), float(values[-1])


def _labels(labels, default: list) -> list:
    """``labels`` checked: one per entry of ``default`` (``default`` if ``None``)."""
    labels = default if labels is None else labels
    if isinstance(labels, str) or len(labels) != len(default):
        raise ValueError(
            f"labels must be a list with one entry per run ({len(default)}), got {labels!r}"
        )
    return list(labels)


def _figure(panels: int, labels, default: list, figsize) -> tuple[Figure, list, list]:
    """``(figure, axes, labels)``: the first ``panels`` of ``PANELS``, labelled (the norm on a log axis), and
    ``labels`` checked (``_labels``)."""
    labels = _labels(labels, default)
    figure = Figure(figsize=figsize, layout="constrained")
    axes = figure.subplots(1, panels)
    for ax, name in zip(axes, PANELS):
        ax.set_xlabel("training step")
        ax.set_ylabel(PANEL_LABELS[name])
    axes[2].set_yscale("log")
    return figure, axes, labels


def plot_seed_runs(runs: SeedRuns, labels=None, window: int = 50, figsize=(12.0, 3.8)) -> Figure:
    """A ``Figure`` (show it with ``display``) of loss, accuracy and pre-clip global norm for every setting of
    ``runs``: running means, the mean over the seeds as a line and their min–max as a band.

    Args:
        runs: from ``helpers.training.train_seeds``.
        labels: one per setting (default ``Setting.label``).
        window: steps of the running means.
        figsize: in inches.
    """
    if not isinstance(runs, SeedRuns):
        raise TypeError(
            f"runs must be the SeedRuns of helpers.training.train_seeds, got {type(runs).__name__}"
        )
    window = checks.positive_int("window", window)
    figure, axes, labels = _figure(3, labels, [s.label for s in runs.settings], figsize)
    n = len(runs.seeds)
    handles = []
    for color, (histories, label) in enumerate(zip(runs.histories, labels)):
        diverged = [h for h in histories if h.diverged]
        text = str(label) + (f" ({len(diverged)}/{n} diverged, ×)" if diverged else "")
        for ax, name in zip(axes, PANELS):
            mean, low, high = seed_band(histories, name, window)
            steps = np.arange(len(mean))
            (line,) = ax.plot(steps, mean, lw=1.4, label=text, **_style(color, len(mean)))
            ax.fill_between(steps, low, high, color=f"C{color}", alpha=0.2, lw=0)
            for h in diverged:
                point = stop_point(h, smoothed_curve(h, name, window), fallback=high)
                if point is not None:
                    ax.plot(*point, "x", color=f"C{color}", ms=9, mew=2.2)
        handles.append(line)
    figure.suptitle(
        f"running means over {window} steps; line: mean over {n} seeds, band: min–max over the seeds",
        fontsize=10,
    )
    figure.legend(
        handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize=9
    )
    return figure


def describe_seed_runs(runs: SeedRuns, labels=None, window: int = 50) -> str:
    """The alt text of ``plot_seed_runs(runs, labels, window)``: what it draws, and each setting's final loss (mean
    over the seeds that did not diverge) and diverged seeds."""
    if not isinstance(runs, SeedRuns):
        raise TypeError(
            f"runs must be the SeedRuns of helpers.training.train_seeds, got {type(runs).__name__}"
        )
    labels = _labels(labels, [s.label for s in runs.settings])
    n, steps = len(runs.seeds), max(h.steps for row in runs.histories for h in row)
    ends = []
    for label, losses, diverged in zip(labels, runs.final_losses(window), runs.diverged()):
        finite = losses[np.isfinite(losses)]
        end = f"{label} {finite.mean():.3g}" if finite.size else f"{label} –"
        ends.append(end + (f" ({diverged.sum()} of {n} seeds diverged)" if diverged.any() else ""))
    return (
        f"Training loss, batch accuracy and pre-clip gradient norm (log) over {steps} steps, one line per "
        f"setting (mean over {n} seeds of running means over {window} steps, band: lowest to highest seed). "
        f"Final loss, mean over the seeds: {'; '.join(ends)}."
    )


def plot_lr_sweep(sweep, held_out: dict | None = None, chance=None, figsize=(11.0, 3.8)) -> Figure:
    """A ``Figure`` of a ``helpers.sweeps.Sweep``: final training loss (and, given ``held_out`` from
    ``Sweep.held_out``, held-out accuracy) against the learning rate, one curve per method: the mean over the grid's
    seeds, a band from the lowest to the highest seed, each method's best learning rate ringed, diverged runs as ``x``
    at the top of the panel.

    Args:
        sweep: from ``helpers.sweeps.lr_sweep``.
        held_out: ``{(label, lr): accuracies}`` for the second panel.
        chance: ``(loss, accuracy)`` of a uniform guess, drawn dotted (e.g. ``(ln 10, 0.1)``).
        figsize: in inches.
    """
    panels = 2 if held_out is not None else 1
    figure = Figure(
        figsize=figsize if panels == 2 else (figsize[0] / 2 + 0.5, figsize[1]), layout="constrained"
    )
    axes = np.atleast_1d(figure.subplots(1, panels))
    rates = np.array(sweep.learning_rates)
    n = min(len(v) for v in sweep.runs.values())
    for index, label in enumerate(sweep.methods):
        color, (line, marker) = f"C{index}", STYLES[index % len(STYLES)]
        values = [np.array([[h.final_loss() for h in sweep.runs[(label, lr)][:n]] for lr in rates])]
        if held_out is not None:
            values.append(np.array([held_out[(label, lr)][:n] for lr in rates]))
        best = list(rates).index(sweep.best(label))
        for ax, table in zip(axes, values):
            finite = np.where(np.isfinite(table), table, np.nan)
            mean = np.where(np.isfinite(table).all(axis=1), np.nanmean(finite, axis=1), np.nan)
            ax.plot(rates, mean, ls=line, marker=marker, color=color, lw=1.5, ms=5, label=label)
            ax.fill_between(
                rates,
                np.nanmin(finite, axis=1),
                np.nanmax(finite, axis=1),
                color=color,
                alpha=0.15,
                lw=0,
            )
            ax.plot(rates[best], mean[best], marker="o", ms=13, mfc="none", mec=color, mew=1.8)
            diverged = (~np.isfinite(table)).any(axis=1)
            ax.plot(
                rates[diverged],
                np.full(diverged.sum(), 0.97),
                "x",
                color=color,
                ms=9,
                mew=2,
                transform=ax.get_xaxis_transform(),
            )
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="learning rate (log)",
        ylabel="final training loss (nats, log)",
    )
    if panels == 2:
        axes[1].set(xscale="log", xlabel="learning rate (log)", ylabel="held-out accuracy")
    if chance is not None:
        for ax, level in zip(axes, chance):
            ax.axhline(level, color="0.3", ls=":", lw=1)
    axes[0].legend(fontsize=9)
    figure.suptitle(
        f"mean over {n} seeds (line), lowest to highest seed (band);\nringed: each method's best "
        "learning rate; x: a run diverged",
        fontsize=10,
    )
    return figure


def describe_lr_sweep(sweep, held_out: dict | None = None) -> str:
    """The alt text of ``plot_lr_sweep(sweep, held_out)``: what it draws, and each method's best learning rate with
    its mean final loss (and held-out accuracy) there."""
    rates = sweep.learning_rates
    n = min(len(v) for v in sweep.runs.values())
    bests = []
    for label in sweep.methods:
        best = sweep.best(label)
        text = f"{label} at learning rate {best:g}, final loss {np.mean(sweep.final_losses(label, best)[:n]):.3g}"
        if held_out is not None:
            text += f", held-out accuracy {np.nanmean(held_out[(label, best)][:n]):.3g}"
        bests.append(text)
    diverged = sum(h.diverged for runs in sweep.runs.values() for h in runs[:n])
    panels = " and held-out accuracy" if held_out is not None else ""
    return (
        f"Final training loss (log){panels} against the learning rate ({min(rates):g} to {max(rates):g}, log), "
        f"one line per method, mean over {n} seeds with a band from the lowest to the highest seed; "
        f"{diverged} runs diverged. Best of each: {'; '.join(bests)}."
    )
