"""How long does one uncached update of notebook 04's clipping lab take, once warm? Prints medians (target: < 2 s).

An uncached update trains every seed of what the new control position needs (``helpers.training.train_seeds``):
(a) a new threshold: the chosen setting x 3 seeds (its unclipped reference, same learning rate, is cached);
(b) a new learning rate: the chosen setting and its reference x 3 seeds.
Both are compared with one plain ``model.fit`` run of the same steps, timed interleaved in the same run (ratios are
what to compare across machines; the machine's load slows all alike). Run from the repository root:

    python benchmarks/lab_update.py [--steps 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from trainer_speed import _offline_keras_home  # noqa: E402  (same folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    home = _offline_keras_home()
    try:
        run(args.steps, args.repeats)
    finally:
        if home is not None:
            import shutil

            shutil.rmtree(home, ignore_errors=True)


def run(steps: int, repeats: int) -> None:
    from helpers import data, models, training
    from helpers.widgets.lab import ClippingLab

    (x_train, y_train), _ = data.load_fashion_mnist()
    lab = ClippingLab((x_train, y_train), steps=steps, background=False, lr_range=(1e-4, 10.0))
    model = models.article_lstm()
    model.compile(
        optimizer=training.keras_optimizer(training.Setting()),
        loss="sparse_categorical_crossentropy",
    )
    pipeline = data.fashion_mnist_pipeline(x_train, y_train, seed=0)
    started = time.perf_counter()
    lab.update()  # warm-up: compiles the lab's training function
    print(f"warm-up (first display, compiles): {time.perf_counter() - started:.2f} s")
    model.fit(pipeline, steps_per_epoch=steps, epochs=1, verbose=0)
    thresholds = iter([0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 2.0, 3.0])
    rates = iter([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    times = {"model.fit": [], "(a) new threshold": [], "(b) new learning rate": []}
    for _ in range(repeats):
        started = time.perf_counter()
        model.fit(pipeline, steps_per_epoch=steps, epochs=1, verbose=0)
        times["model.fit"].append(time.perf_counter() - started)
        lab.controls["learning_rate"].value = 1.0
        started = time.perf_counter()
        lab.controls["threshold"].value = next(thresholds)
        times["(a) new threshold"].append(time.perf_counter() - started)
        started = time.perf_counter()
        lab.controls["learning_rate"].value = next(rates)
        times["(b) new learning rate"].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"\n{steps} steps, {len(lab.trainer.seeds)} seeds, median of {repeats} interleaved repeats:"
    )
    for name, value in medians.items():
        ratio = value / medians["model.fit"]
        target = "" if name == "model.fit" else f"  {'under' if value < 2 else 'OVER'} 2 s"
        print(f"  {name:24s} {value:6.2f} s   ratio to one model.fit run: {ratio:.2f}{target}")


if __name__ == "__main__":
    main()
