"""The checks of notebook 04's exercises: a tight clipvalue, separable pairs, Adam and a clip."""

from __future__ import annotations

import dataclasses

import numpy as np

from helpers.exercises.core import Exercise, NotReady, Part

TIGHT = {"mode": "value", "threshold": 0.01, "learning_rate": 0.01}  # exercise 1's setting
TRAIN_IT = (
    'train it first and keep the result in a variable, e.g. runs = training.train_seeds(Setting("value", '
    "0.01, learning_rate=0.01), TRAIN, EPOCHS * STEPS_PER_EPOCH, seeds=3): the check reads your runs."
)


def _your_runs(namespace, steps: int) -> dict:
    """The learner's runs of ``TIGHT`` for ``steps`` steps, one per seed, found among the notebook's variables."""
    from helpers.training import History, SeedRuns, Setting

    target, runs, other_steps = Setting(**TIGHT), {}, set()
    for value in list(namespace.values()):
        if isinstance(value, SeedRuns):
            found = [h for row in value.histories for h in row]
        elif (
            isinstance(value, list | tuple) and value and all(isinstance(h, History) for h in value)
        ):
            found = list(value)
        else:
            found = [value] if isinstance(value, History) else []
        for h in found:
            if dataclasses.replace(h.setting, seed=0) == target:
                if h.steps_requested == steps:
                    runs[h.setting.seed] = h
                else:
                    other_steps.add(h.steps_requested)
    if not runs and other_steps:
        raise NotReady(
            f"your runs have {sorted(other_steps)} steps and section 1's {steps}: train as many steps "
            "(EPOCHS * STEPS_PER_EPOCH) to compare with them."
        )
    if not runs:
        raise NotReady(TRAIN_IT[0].upper() + TRAIN_IT[1:])
    return runs


def _tight_clipvalue(namespace) -> dict:
    """How often the learner's runs of ``TIGHT`` clipped, and in how many seeds they end below section 1's baseline."""
    article = namespace["article"]
    baseline = {seed: h for seed, h in zip(article.seeds, article.histories[0], strict=True)}
    runs = _your_runs(namespace, article.histories[0][0].steps_requested)
    seeds = [seed for seed in sorted(runs) if seed in baseline]
    if not seeds:
        raise NotReady(
            f"your runs use seeds {sorted(runs)}; section 1 trained seeds {list(article.seeds)}."
        )
    lower = sum(runs[s].final_loss() < baseline[s].final_loss() for s in seeds)
    clipped = float(np.mean([runs[s].clipped_fraction for s in seeds]))
    return {"clipped": clipped, "lower": lower, "higher": len(seeds) - lower}


def _separable(losses: list) -> dict:
    """Over every pair of ``losses`` (final losses per seed, paired by seed): how many ``training.verdict`` calls
    separable, how many are 'lower in n/n', how many a majority of one seed at most, and how many pairs there are."""
    from helpers import training

    pairs = [(a, b) for i, a in enumerate(losses) for b in losses[i + 1 :]]
    n = [min(len(a), len(b)) for a, b in pairs]
    wins = [int(np.sum(a[:k] < b[:k])) for (a, b), k in zip(pairs, n, strict=True)]
    return {
        "separable": sum(
            "not separable" not in training.verdict(a[:k], b[:k]) for (a, b), k in zip(pairs, n)
        ),
        "only_lower": sum(w == k for w, k in zip(wins, n, strict=True)),
        "majority": sum(w >= k - 1 or w <= 1 for w, k in zip(wins, n, strict=True)),
        "all": len(pairs),
    }


def _pairs(namespace) -> dict:
    """``_separable`` for section 2's four settings and for section 3's methods at their best learning rates."""
    section2 = _separable(list(namespace["unstable"].final_losses()))
    sweep = namespace["sweep"]
    section3 = _separable([sweep.final_losses(label) for label in namespace["METHODS"]])
    return {
        **{f"{k}2": v for k, v in section2.items()},
        **{f"{k}3": v for k, v in section3.items()},
    }


def _adam_steps(gradients) -> np.ndarray:
    """How far one Keras Adam (learning rate 0.01) moves a weight at each step, fed ``gradients`` in turn."""
    import keras
    import tensorflow as tf

    weight = keras.Variable(np.zeros_like(np.asarray(gradients[0], np.float32)))
    adam, moved = keras.optimizers.Adam(learning_rate=0.01), []
    for g in gradients:
        before = weight.numpy().copy()
        adam.apply([tf.constant(g, tf.float32)], [weight])
        moved.append(before - weight.numpy())
    return np.array(moved)


def _adam(namespace) -> dict:
    """(a) Adam's first step with g/10 over the one with g (entries 0.5 and near ε̂); (b) the steps after a spike."""
    g = np.array([0.5, 1e-6], np.float32)
    full, tenth = _adam_steps([g])[0], _adam_steps([g / 10])[0]
    spike = _adam_steps([[1.0], [1.0], [100.0], [1.0], [1.0]])[3:, 0]
    clipped = _adam_steps([[1.0]] * 5)[3:, 0]
    after = (
        "smaller"
        if np.all(spike < clipped)
        else "larger"
        if np.all(spike > clipped)
        else "the same"
    )
    ratio = float(tenth[0] / full[0])
    return {
        "ratio": ratio,
        "sgd": 0.1,
        "inverse_sgd": 10.0,
        "near_eps": float(tenth[1] / full[1]),
        "after": after,
    }


EXERCISES = (
    Exercise(
        "04.1",
        parts=(
            Part("the fraction of the steps clipped, over your 3 seeds", "fraction", "clipped"),
            Part(
                "in how many of the 3 seeds it ends lower than section 1's run without clipping",
                "count",
                "lower",
                mistakes=(
                    ("higher", "that counts the seeds where it ends higher than without clipping."),
                ),
            ),
        ),
        compute=_tight_clipvalue,
        needs=(("article", "section 1"),),
        hint=TRAIN_IT
        + " Each History has clipped_fraction and final_loss(); article.histories[0] holds section "
        "1's runs without clipping, seed by seed.",
        mentions=(
            "0.01 is below most gradient entries, so nearly every step is clipped: each large entry is cut to "
            "±0.01, a shorter step that points elsewhere",
            "the comparison is seed by seed (k of 3), not only of the means",
        ),
    ),
    Exercise(
        "04.2",
        parts=(
            Part(
                "how many of the 6 pairs of section 2's settings are separable with 5 seeds",
                "count",
                "separable2",
                mistakes=(
                    (
                        "only_lower2",
                        "that counts only the pairs where the first ends lower in every seed; a pair "
                        "where it ends higher in every seed (0/5) is separable too.",
                    ),
                    (
                        "majority2",
                        "that counts pairs with one seed disagreeing (4/5 or 1/5) too: with 5 seeds, "
                        "one disagreeing seed leaves the order open.",
                    ),
                    ("all2", "not every pair is separable: count only 5/5 and 0/5."),
                ),
            ),
            Part(
                "how many of the 3 pairs of section 3's methods, each at its best learning rate, are separable",
                "count",
                "separable3",
                mistakes=(
                    (
                        "only_lower3",
                        "that counts only the pairs where the first ends lower in every seed; a pair "
                        "where it ends higher in every seed is separable too.",
                    ),
                    (
                        "majority3",
                        "that counts pairs with one seed disagreeing too: it leaves the order open.",
                    ),
                    ("all3", "not every pair is separable: read sweep.compare for each pair."),
                ),
            ),
        ),
        compute=_pairs,
        needs=(("unstable", "section 2"), ("sweep", "section 3"), ("METHODS", "section 3")),
        hint="training.verdict(a, b) says whether a list of final losses ends lower than another in every seed, "
        "higher in every seed, or neither; sweep.compare(a, b) does it for two methods at their best learning rates.",
        mentions=(
            "with 5 seeds only 5/5 or 0/5 separates two settings: one disagreeing seed leaves the order open",
            "whether the pairs that separate at learning rate 1 still separate when each method runs at its own "
            "best learning rate: one learning rate can favour the method it happens to suit",
        ),
    ),
    Exercise(
        "04.3",
        parts=(
            Part(
                "Adam's first step with g/10 divided by its first step with g, for an entry g = 0.5",
                "number",
                "ratio",
                mistakes=(
                    (
                        "sgd",
                        "that is plain SGD's ratio (its step is lr·g); Adam divides by √v̂, about |g| at the "
                        "first step.",
                    ),
                    (
                        "inverse_sgd",
                        "upside down, and SGD's: Adam divides by √v̂, about |g| at the first step.",
                    ),
                    (
                        "near_eps",
                        "that is the ratio for an entry near ε̂; take the entry 0.5, where |g| ≫ ε̂.",
                    ),
                ),
            ),
            Part(
                "Adam's steps after the spike, against the run clipped to 1 at the spike",
                "choice",
                "after",
                choices={
                    "smaller": ("shorter",),
                    "the same": ("same", "equal"),
                    "larger": ("longer", "bigger"),
                },
                mistakes=(
                    (
                        "the same",
                        "Adam's v keeps the spike's square (β₂ = 0.999 forgets slowly), so the steps after "
                        "it differ from the clipped run's.",
                    ),
                    (
                        "larger",
                        "m carries the spike (β₁ = 0.9), but v carries its square, and √v̂ grows more than m̂.",
                    ),
                ),
            ),
        ),
        compute=_adam,
        hint="(a) Adam's step is about lr·m̂/(√v̂ + ε̂), and at step 1, m̂ = g and v̂ = g². (b) v̂ averages g² over "
        "many steps (β₂ = 0.999).",
        mentions=(
            "(a) where |g| ≫ ε̂, Adam's first step is lr·sign(g) at any scale: scaling the gradient by one factor, as "
            "a clip does, changes nothing there, only entries near ε̂",
            "(b) the spike stays in v (β₂ = 0.999), so the later steps shrink; clipped at the spike, they do not: "
            "clipping changes Adam's later steps, not only the spike's",
        ),
    ),
)
