"""How fast is helpers.training against plain ``model.fit``? Prints ratios (smaller is better).

(a) the instrumented loop (one setting: SGD with ``clipvalue=0.5``) against ``model.fit`` with
    ``keras.optimizers.SGD(clipvalue=0.5)``, the article's model, the same 500 steps of the article's pipeline;
    target: at most 0.75.
(b) 8 settings trained together (4 clipping modes x 2 thresholds) against one plain ``model.fit`` run of 500 steps;
    target: at most 3.
(c) ``train_seeds`` of the same 8 settings x 5 seeds against one ``model.fit`` run.

What determinism cost: ``train`` computes settings in fixed-shape blocks of ``training.BLOCK`` (padded with inert
copies) so that a setting's history does not depend on what it is trained with. (a)-(c) are printed twice, side by
side in one run: "deterministic" (the blocks, as shipped) and "one block of K" (``training.BLOCK`` set to the number
of settings sharing a data seed: no padding, every setting of a call in one batched computation, as before the
blocks, whose numbers depend on the grouping).

Both sides are warmed up (compiled) first, then timed interleaved, ``--repeats`` times, and the medians compared,
so that other work on the machine slows both sides alike. Run from the repository root:

    python benchmarks/trainer_speed.py [--steps 500] [--repeats 5]

Uses ``$KERAS_HOME`` (or a temporary copy of ``../shared/datasets/fashion-mnist`` when that exists).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fashion-mnist"


def _offline_keras_home() -> Path | None:
    if "KERAS_HOME" in os.environ or not SHARED.is_dir():
        return None
    home = Path(tempfile.mkdtemp(prefix="keras-home-"))
    (home / "datasets" / "fashion-mnist").mkdir(parents=True)
    for source in SHARED.glob("*.gz"):
        shutil.copy(source, home / "datasets" / "fashion-mnist" / source.name)
    os.environ["KERAS_HOME"] = str(home)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    home = _offline_keras_home()
    try:
        run(args.steps, args.repeats)
    finally:
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)


def run(steps: int, repeats: int) -> None:
    import helpers
    from helpers import data, models, training
    from helpers.training import Setting

    helpers.seed_everything(0)
    (x_train, y_train), _ = data.load_fashion_mnist()
    pipeline = data.fashion_mnist_pipeline(x_train, y_train, seed=0)
    one = Setting("value", 0.5, learning_rate=0.01)
    eight = [
        Setting(mode, c, learning_rate=0.01)
        for mode in ("value", "norm", "global_norm")
        for c in (0.5, 5.0)
    ]
    eight += [
        Setting("none", learning_rate=0.01),
        Setting("none", learning_rate=0.01, momentum=0.9),
    ]

    model = models.article_lstm()
    model.compile(
        optimizer=training.keras_optimizer(one),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    def fit():
        model.fit(pipeline, steps_per_epoch=steps, epochs=1, verbose=0)

    def loop_one():
        training.train(one, (x_train, y_train), steps, progress=False)

    def loop_eight():
        training.train(eight, (x_train, y_train), steps, progress=False)

    def seeds_eight():
        training.train_seeds(eight, (x_train, y_train), steps, seeds=5, progress=False)

    shipped = training.BLOCK
    variants = {"deterministic": {1: shipped, 8: shipped}, "one block of K": {1: 1, 8: 8}}

    def with_block(function, variant, k):
        def call():
            training.BLOCK = variants[variant][k]
            try:
                function()
            finally:
                training.BLOCK = shipped

        return call

    candidates = {"model.fit (SGD clipvalue=0.5)": fit}
    for variant in variants:
        candidates[f"train(1 setting), {variant}"] = with_block(loop_one, variant, 1)
        candidates[f"train(8 settings), {variant}"] = with_block(loop_eight, variant, 8)
        candidates[f"train_seeds(8 x 5 seeds), {variant}"] = with_block(seeds_eight, variant, 8)
    for (
        name,
        function,
    ) in candidates.items():  # warm-up: tracing and XLA compilation are not what we compare
        started = time.perf_counter()
        function()
        print(f"warm-up {name:45s} {time.perf_counter() - started:6.2f} s")
    times = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, function in candidates.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    print(f"\n{steps} steps, batch 32, article LSTM(10); median of {repeats} interleaved repeats:")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"  {name:45s} {value:7.3f} s  ({1000 * value / steps:6.2f} ms/step)")
    fit_time = medians["model.fit (SGD clipvalue=0.5)"]
    verdict = {True: "met", False: "NOT met"}
    print(
        f"\nratio to one model.fit run   {'deterministic':>14s} {'one block of K':>15s}  cost of determinism"
    )
    for label, key, target in (
        ("(a) 1 setting", "train(1 setting)", 0.75),
        ("(b) 8 settings", "train(8 settings)", 3.0),
        ("(c) 8 settings x 5 seeds", "train_seeds(8 x 5 seeds)", None),
    ):
        ours = medians[f"{key}, deterministic"] / fit_time
        before = medians[f"{key}, one block of K"] / fit_time
        goal = f"  (target <= {target:g}: {verdict[ours <= target]})" if target else ""
        print(f"{label:28s} {ours:14.2f} {before:15.2f}  x{ours / before:.2f}{goal}")
    print(
        f"\nDeterminism (training.BLOCK = {shipped}) costs the factor in the last column: a setting trained alone is "
        f"padded to {shipped}; 8 settings run as blocks of {shipped} instead of one batched computation."
    )


if __name__ == "__main__":
    main()
