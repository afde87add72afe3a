"""Learning-rate sweeps over seeds: each method at its own best learning rate (notebooks 04 and 05).

Clipping interacts with the step size, so comparing a clipping rule with no clipping at one learning rate mostly
compares two step sizes. A **method** here is a ``helpers.training.Setting`` whose learning rate and seed the sweep
fills in (a rule, its threshold, the optimizer); ``lr_sweep`` trains every method at every learning rate over seeds,
finds each method's **best** learning rate (lowest mean final loss over the seeds; a diverged run counts as ``inf``)
and trains more seeds there. ``Sweep`` answers the fair questions: each method's best, the range of learning rates
that come within a margin of it, and best against best, seed by seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from helpers import checks
from helpers.training import (
    History,
    Setting,
    _seed_list,
    held_out_accuracy,
    mean_sd,
    train_runs,
    verdict,
)


@dataclass(frozen=True, eq=False)
class Sweep:
    """``runs[(label, lr)]``: the runs of method ``label`` at learning rate ``lr``, one per seed, in seed order."""

    methods: dict
    learning_rates: tuple
    runs: dict

    def final_losses(self, label: str, lr: float | None = None, window: int = 50) -> np.ndarray:
        """The final losses (``History.final_loss``) of ``label``'s runs at ``lr`` (default: its best), per seed."""
        return np.array([h.final_loss(window) for h in self.histories(label, lr)], np.float64)

    def histories(self, label: str, lr: float | None = None) -> list[History]:
        """``label``'s runs at ``lr`` (default: its best learning rate)."""
        checks.one_of("label", label, tuple(self.methods))
        lr = self.best(label) if lr is None else checks.one_of("lr", lr, self.learning_rates)
        return list(self.runs[(label, lr)])

    def means(self, label: str, seeds: int | None = None) -> np.ndarray:
        """The mean final loss at each learning rate over the first ``seeds`` seeds (default: the grid's)."""
        n = seeds or min(len(self.runs[(label, lr)]) for lr in self.learning_rates)
        return np.array([np.mean(self.final_losses(label, lr)[:n]) for lr in self.learning_rates])

    def best(self, label: str) -> float:
        """The learning rate with the lowest mean final loss over the grid's seeds (the first when tied)."""
        return self.learning_rates[int(np.argmin(self.means(label)))]

    def good_range(self, label: str, margin: float) -> tuple[float, float]:
        """The learning rates ``(low, high)`` around the best whose mean final loss is within ``margin`` (nats) of the
        best mean, the ends interpolated linearly in log(learning rate) between swept points."""
        margin = checks.positive("margin", margin)
        logs, means = np.log(self.learning_rates), self.means(label)
        best = int(np.argmin(means))
        limit = means[best] + margin
        ends = []
        for step in (-1, 1):
            i = best
            while 0 <= i + step < len(means) and means[i + step] <= limit:
                i += step
            j = i + step
            if 0 <= j < len(means) and np.isfinite(means[j]):  # crosses the limit between i and j
                ends.append(
                    logs[i] + (limit - means[i]) / (means[j] - means[i]) * (logs[j] - logs[i])
                )
            else:  # the edge of the sweep, or a diverged neighbour: stop at the last point inside
                ends.append(logs[i])
        return float(np.exp(ends[0])), float(np.exp(ends[1]))

    def compare(self, label: str, reference: str) -> str:
        """``helpers.training.verdict`` of ``label`` at its best learning rate against ``reference`` at its own, over
        the seeds both have there."""
        a, b = self.final_losses(label), self.final_losses(reference)
        n = min(len(a), len(b))
        return verdict(a[:n], b[:n])

    def all(self) -> list[History]:
        """Every run of the sweep (e.g. for ``helpers.training.train_runs(..., reuse=[sweep.all()])``)."""
        return list(dict.fromkeys(h for runs in self.runs.values() for h in runs))

    def compare_ranges(self, label: str, reference: str, margin: float) -> str:
        """``label``'s ``good_range`` against ``reference``'s, in words: the width (high / low) and the top end, each
        "wider"/"higher" or "narrower"/"lower" only when they differ by more than ``TOLERANCE`` (interpolated ends
        from a coarse grid over few seeds are not more precise than that)."""
        (low, high), (low0, high0) = (
            self.good_range(label, margin),
            self.good_range(reference, margin),
        )
        width, width0 = high / low, high0 / low0
        return (
            f"range ×{width:.1f} vs ×{width0:.1f}: {_words(width / width0, 'wider', 'narrower')}; highest lr "
            f"{high:.2g} vs {high0:.2g}: {_words(high / high0, 'higher', 'lower')}"
        )

    def held_out(self, x, y, **kwargs) -> dict:
        """``{(label, lr): accuracy per seed}`` on ``x, y`` (``helpers.training.held_out_accuracy``, NaN where
        diverged), every run of the sweep in one batched computation."""
        keys = list(self.runs)
        flat = [h for key in keys for h in self.runs[key]]
        accuracy = iter(held_out_accuracy(flat, x, y, **kwargs))
        return {key: np.array([next(accuracy) for _ in self.runs[key]]) for key in keys}

    def table(self, margin: float, unit: str = "nats") -> str:
        """Per method: best learning rate, its final loss (mean ± sd, n seeds), clipped fraction and the range within
        ``margin`` (in the loss's ``unit``) of the best (``good_range``)."""
        rows = [
            (
                "method",
                "best lr",
                "final loss there",
                "clipped",
                f"lr within {margin:g} {unit} of its best",
            )
        ]
        for label in self.methods:
            best, runs = self.best(label), self.histories(label)
            losses = self.final_losses(label)
            finite = losses[np.isfinite(losses)]
            low, high = self.good_range(label, margin)
            clipped = np.mean([h.clipped_fraction for h in runs])
            rows.append(
                (
                    label,
                    f"{best:g}",
                    f"{mean_sd(finite, '{:.3f}')} (n={len(runs)})",
                    f"{clipped:.0%}",
                    f"{low:.2g} to {high:.2g} (×{high / low:.1f})",
                )
            )
        widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
        lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "-+-".join("-" * w for w in widths))
        return "\n".join(lines)


#: Relative difference below which two interpolated ranges count as "about the same".
TOLERANCE = 0.25


def _words(ratio: float, more: str, less: str) -> str:
    if ratio > 1 + TOLERANCE:
        return more
    if ratio < 1 / (1 + TOLERANCE):
        return less
    return f"about the same (within {TOLERANCE:.0%})"


def lr_sweep(
    methods: Mapping[str, Setting],
    learning_rates: Sequence[float],
    data,
    steps: int,
    seeds=3,
    best_seeds: int = 5,
    reuse: Sequence = (),
    **train_kwargs,
) -> Sweep:
    """Train every method (``{label: Setting}``, its learning rate and seed replaced) at every learning rate with
    ``seeds``, then at each method's best learning rate up to ``best_seeds`` seeds, in two ``train_runs`` calls.

    Args:
        methods: a label and a ``Setting`` per method.
        learning_rates: positive, distinct, in increasing order.
        data, steps, train_kwargs: as for ``helpers.training.train``.
        seeds: the grid's seeds (``n`` means ``0 .. n-1``).
        best_seeds: seeds ``0 .. best_seeds-1`` at each method's best learning rate.
        reuse: as for ``helpers.training.train_runs``: runs already trained are not trained again.
    """
    if not isinstance(methods, Mapping) or not methods:
        raise TypeError("methods must be a non-empty dict {label: Setting}")
    for label, setting in methods.items():
        if not isinstance(setting, Setting):
            raise TypeError(f"methods[{label!r}] must be a Setting, got {type(setting).__name__}")
    rates = tuple(
        checks.positive(f"learning_rates[{i}]", lr) for i, lr in enumerate(learning_rates)
    )
    if len(rates) < 2 or any(b <= a for a, b in zip(rates, rates[1:])):
        raise ValueError(
            f"learning_rates must hold two or more increasing values, got {list(learning_rates)}"
        )
    grid = _seed_list(seeds)
    best_seeds = checks.positive_int("best_seeds", best_seeds, minimum=len(grid))
    reuse = list(reuse)

    def fetch(wanted: list[Setting]) -> None:
        if wanted:
            reuse.append(train_runs(wanted, data, steps, reuse=reuse, **train_kwargs))

    def runs_of(label, lr, seed_list):
        wanted = [replace(methods[label], learning_rate=lr, seed=s) for s in seed_list]
        return tuple(train_runs(wanted, data, steps, reuse=reuse))

    fetch(
        [
            replace(m, learning_rate=lr, seed=s)
            for m in methods.values()
            for lr in rates
            for s in grid
        ]
    )
    sweep = Sweep(
        dict(methods),
        rates,
        {(label, lr): runs_of(label, lr, grid) for label in methods for lr in rates},
    )
    more = [s for s in range(best_seeds) if s not in grid]
    fetch(
        [
            replace(m, learning_rate=sweep.best(label), seed=s)
            for label, m in methods.items()
            for s in more
        ]
    )
    runs = dict(sweep.runs)
    for label in methods:
        best = sweep.best(label)
        runs[(label, best)] = runs_of(label, best, sorted(set(grid) | set(range(best_seeds))))
    return Sweep(dict(methods), rates, runs)
