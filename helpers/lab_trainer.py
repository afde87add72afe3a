"""The runs behind notebook 04's clipping lab: every ``History`` trained so far, cached by ``Setting`` (seed
included); what a setting (a **mode**, its **threshold**, a learning rate) and its unclipped reference lack is
trained over all seeds in one ``helpers.training.train_seeds`` call. A run is bitwise the same however it was
grouped, so a cached run equals one a notebook table printed.

In the background (``request``) the last request wins: one call trains at a time, a newer request abandons the
running call at its next chunk, and settings wanted in between are never trained.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from helpers import clipping, training
from helpers.training import History, SeedRuns, Setting

__all__ = ["LabTrainer", "Progress"]


class Progress(Protocol):
    """What ``LabTrainer.train_missing`` tells while it trains (notebook 04's lab shows it)."""

    def training_started(self, missing: list[Setting]) -> None: ...

    def training_step(self, done: int) -> None: ...

    def training_finished(self, missing: list[Setting], finished: bool, seconds: float) -> None: ...


class LabTrainer:
    """Per-seed runs of the lab's settings.

    Args:
        data: ``(x_train, y_train)``.
        steps: steps per run.
        seeds: a number ``n`` >= 3 (seeds ``0 .. n-1``) or at least 3 seeds.
        fixed: the ``Setting`` fields every run shares (``optimizer``, ``momentum``).
        histories: runs already trained (a ``SeedRuns`` or ``History`` objects); those that fit fill the cache.
        train_kwargs: passed to ``train_seeds`` (e.g. ``chunk``, ``model``).
    """

    def __init__(self, data, steps: int, seeds, fixed: dict, histories=(), **train_kwargs):
        self.steps = steps
        self.fixed = dict(fixed)
        self.train_kwargs = dict(train_kwargs)
        self.seeds = training._seed_list(seeds)
        if len(self.seeds) < 3:
            raise ValueError(
                f"seeds must be at least 3 seeds (the lab draws their spread), got {list(self.seeds)}"
            )
        self.cache: dict[Setting, History] = {}
        if isinstance(histories, SeedRuns):
            histories = [h for row in histories.histories for h in row]
        for history in histories:
            if not isinstance(history, History):
                raise TypeError(
                    f"histories must hold History objects, got {type(history).__name__}"
                )
            same = (history.setting.optimizer, history.setting.momentum) == tuple(
                self.fixed.values()
            )
            if (
                same
                and history.steps_requested == steps
                and (history.steps == steps or history.diverged)
            ):
                self.cache[self.key(history.setting)] = history
        self.data = training.check_data(
            data, train_kwargs.get("model"), train_kwargs.get("loss", training.LOSSES[0])
        )
        self.runs: list[tuple[Setting, ...]] = []  # every group of settings trained, in order
        self.lock = threading.RLock()
        self._training = threading.Lock()  # one background call at a time
        self._wanted: Setting | None = None
        self._worker: threading.Thread | None = None  # the latest request's thread

    def setting(self, mode: str, threshold: float, learning_rate: float, seed: int = 0) -> Setting:
        """The ``Setting`` of the controls' values, the fixed fields and ``seed``. Threshold (ignored for "none") and
        learning rate are rounded to 4 significant digits, so that a slider position and a number typed in a
        notebook (10 ** -0.5 computed in JavaScript or in Python) name the same cached run."""
        threshold = None if mode == "none" else float(f"{threshold:.4g}")
        return Setting(mode, threshold, float(f"{learning_rate:.4g}"), seed=seed, **self.fixed)

    def key(self, setting: Setting) -> Setting:
        """The cache key of ``setting``: rounded as in ``setting()``, its seed kept."""
        threshold = clipping.threshold_value(setting.threshold)
        return self.setting(setting.mode, threshold, setting.learning_rate, setting.seed)

    def reference(self, setting: Setting) -> Setting:
        """The unclipped setting at ``setting``'s learning rate."""
        return self.setting("none", 1.0, setting.learning_rate)

    def missing(self, setting: Setting) -> list[Setting]:
        """Those of ``setting`` and its unclipped reference that lack a seed in the cache."""
        group = dict.fromkeys([self.key(setting), self.reference(setting)])
        with self.lock:
            return [
                s for s in group if any(replace(s, seed=x) not in self.cache for x in self.seeds)
            ]

    def seed_histories(self, setting: Setting) -> list[History]:
        """``setting``'s cached histories, one per seed (train the group first)."""
        with self.lock:
            return [self.cache[replace(self.key(setting), seed=seed)] for seed in self.seeds]

    def train(
        self, settings: list[Setting], on_chunk: Callable[[int], bool] = lambda done: True
    ) -> bool:
        """Train ``settings`` over all seeds and cache the runs, unless ``on_chunk(steps_done)`` returned ``False``
        (abandoned: nothing is cached). Returns whether it finished."""
        with self.lock:
            self.runs.append(tuple(settings))
        runs = training.train_seeds(
            settings,
            self.data,
            self.steps,
            seeds=self.seeds,
            progress=False,
            on_chunk=on_chunk,
            **self.train_kwargs,
        )
        histories = [h for row in runs.histories for h in row]
        if any(h.steps < h.steps_requested and not h.diverged for h in histories):
            return False
        with self.lock:
            for history in histories:
                self.cache[self.key(history.setting)] = history
        return True

    def wanted(self, setting: Setting) -> None:
        """Make ``setting`` the one a background call should finish (a call for another is abandoned)."""
        self._wanted = setting

    def train_missing(
        self, setting: Setting, progress: Progress | None = None, cancelled=lambda: False
    ) -> bool:
        """Train what ``setting`` and its unclipped reference lack (``missing``), telling ``progress``; ``False`` if
        ``cancelled()`` stopped it (nothing cached then)."""
        missing = self.missing(setting)
        if not missing:
            return True
        if progress is not None:
            progress.training_started(missing)
        started = time.perf_counter()

        def on_chunk(done: int) -> bool:
            if progress is not None:
                progress.training_step(done)
            return not cancelled()

        finished = self.train(missing, on_chunk)
        if progress is not None:
            progress.training_finished(missing, finished, time.perf_counter() - started)
        return finished

    def request(
        self, progress: Progress, done: Callable[[], None], failed: Callable[[Exception], None]
    ) -> None:
        """Train the wanted setting's missing runs in a background thread once the running call (if any) has
        stopped, telling ``progress``; a newer request abandons it at its next chunk.

        Args:
            progress: told when training starts, after each chunk and when it ends.
            done: called when the finished setting is still the wanted one.
            failed: called with the exception training raised (a thread's exception would be lost).
        """
        self._worker = threading.Thread(
            target=self._work, args=(self._wanted, progress, done, failed), daemon=True
        )
        self._worker.start()

    def _work(self, target: Setting, progress: Progress, done, failed) -> None:
        with self._training:
            if self._wanted != target or not self.missing(
                target
            ):  # superseded while waiting, or trained
                return
            try:
                finished = self.train_missing(
                    target, progress, cancelled=lambda: self._wanted != target
                )
            except Exception as error:
                failed(error)
                return
        if finished and self._wanted == target:
            done()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the latest background call (if any) has finished."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
