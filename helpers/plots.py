"""Static figures of training runs over seeds (notebooks 04 and 05).

``plot_seed_runs(runs)``: for each setting of a ``helpers.training.SeedRuns`` (from ``train_seeds``), the running
mean of the training loss, of the batch accuracy and of the pre-clip global gradient norm (log axis), drawn as the
mean over the seeds with a band from the lowest to the highest seed; a seed that diverged is marked ``x`` where it
stopped and leaves the mean and the band from then on (the legend says how many diverged).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from helpers import checks

__all__ = ["PANEL_LABELS", "plot_seed_runs", "seed_band", "smoothed_curve"]

#: y-axis labels of the three panels of ``plot_seed_runs``.
PANEL_LABELS = {
    "loss": "training loss (nats)",
    "accuracy": "batch accuracy",
    "grad_norm": r"pre-clip global norm $\|g\|$",
}


def smoothed_curve(history, name: str, window: int = 50) -> np.ndarray:
    """``history``'s running mean of ``name`` (``"loss"``, ``"accuracy"``, ``"grad_norm"``) over ``window`` steps,
    with NaN from the first non-finite value on (the step a diverged run stopped)."""
    values = getattr(history, name).astype(np.float64)
    finite = np.isfinite(values)
    count = len(values) if finite.all() else int(np.argmin(finite))
    curve = np.full(len(values), np.nan)
    if count:
        cumulative = np.concatenate([[0.0], np.cumsum(values[:count])])
        index = np.arange(1, count + 1)
        width = np.minimum(index, window)
        curve[:count] = (cumulative[index] - cumulative[index - width]) / width
    return curve


def seed_band(histories, name: str, window: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, low, high)`` over the seeds' ``smoothed_curve`` at every step (the longest run's length), each
    computed over the seeds still running at that step (NaN where none is)."""
    curves = [smoothed_curve(h, name, window) for h in histories]
    length = max(len(c) for c in curves)
    stacked = np.full((len(curves), length), np.nan)
    for row, curve in zip(stacked, curves):
        row[: len(curve)] = curve
    running = np.isfinite(stacked).any(axis=0)
    mean, low, high = (np.full(length, np.nan) for _ in range(3))
    mean[running] = np.nanmean(stacked[:, running], axis=0)
    low[running] = np.nanmin(stacked[:, running], axis=0)
    high[running] = np.nanmax(stacked[:, running], axis=0)
    return mean, low, high


def plot_seed_runs(runs, labels=None, window: int = 50, figsize=(12.0, 3.8)) -> Figure:
    """Loss, accuracy and pre-clip global norm (log axis) of every setting of ``runs`` (a ``SeedRuns``): running
    means over ``window`` steps, the mean over the seeds as a line, the min–max over the seeds as a band, ``x``
    where a seed diverged. ``labels``: one per setting (default ``Setting.label``).
    Returns the matplotlib ``Figure`` (not registered with pyplot: show it with ``display(fig)``)."""
    from helpers.training import SeedRuns

    if not isinstance(runs, SeedRuns):
        raise TypeError(f"runs must be the SeedRuns of helpers.training.train_seeds, got {type(runs).__name__}")
    window = checks.positive_int("window", window)
    if labels is None:
        labels = [s.label for s in runs.settings]
    if isinstance(labels, str) or len(labels) != len(runs.settings):
        raise ValueError(f"labels must be a list with one entry per setting ({len(runs.settings)}), got {labels!r}")
    n = len(runs.seeds)
    figure = Figure(figsize=figsize, layout="constrained")
    axes = figure.subplots(1, 3)
    handles = []
    for color, (histories, label) in enumerate(zip(runs.histories, labels)):
        diverged = [h for h in histories if h.diverged]
        text = str(label) + (f" ({len(diverged)}/{n} diverged, ×)" if diverged else "")
        for ax, name in zip(axes, PANEL_LABELS):
            mean, low, high = seed_band(histories, name, window)
            steps = np.arange(len(mean))
            (line,) = ax.plot(steps, mean, color=f"C{color}", lw=1.4, label=text)
            ax.fill_between(steps, low, high, color=f"C{color}", alpha=0.2, lw=0)
            for h in diverged:  # x at the run's last finite value, else the band's last (none: no x)
                curve = smoothed_curve(h, name, window)
                values = curve[np.isfinite(curve)] if np.isfinite(curve).any() else high[np.isfinite(high)]
                if values.size:
                    ax.plot(h.diverged_at, values[-1], "x", color=f"C{color}", ms=9, mew=2.2)
        handles.append(line)
    for ax, name in zip(axes, PANEL_LABELS):
        ax.set_xlabel("training step")
        ax.set_ylabel(PANEL_LABELS[name])
    axes[2].set_yscale("log")
    figure.suptitle(
        f"running means over {window} steps; line: mean over {n} seeds, band: min–max over the seeds", fontsize=10
    )
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize=9)
    return figure
