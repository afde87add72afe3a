"""The checks of notebook 05's exercises: Pascanu's range from bad runs, AutoClip at p = 90, AGC's largest ratio,
AutoClip on growing norms."""

from __future__ import annotations

import numpy as np

from helpers.exercises.core import Exercise, Part

#: The variables of the article's LSTM as section 4's table names them, with the other names a learner may use.
VARIABLES = {
    "lstm/lstm_cell/kernel": ("lstm_cell/kernel", "article_lstm/lstm/lstm_cell/kernel"),
    "lstm/lstm_cell/recurrent_kernel": (
        "lstm_cell/recurrent_kernel",
        "article_lstm/lstm/lstm_cell/recurrent_kernel",
    ),
    "lstm/lstm_cell/bias": ("lstm_cell/bias", "article_lstm/lstm/lstm_cell/bias"),
    "softmax/kernel": ("article_lstm/softmax/kernel",),
    "softmax/bias": ("article_lstm/softmax/bias",),
}
FINAL_LAYER = (
    "AGC skips the final layer (section 4: `final`), so its ratios do not count; take the largest among "
    "the layers it clips."
)


def _finite(histories) -> np.ndarray:
    """The recorded pre-clip norms of ``histories``, without a diverged run's last NaN/inf (as ``finite_norms``)."""
    return np.concatenate([h.grad_norm[np.isfinite(h.grad_norm)] for h in histories]).astype(
        np.float64
    )


def _running_percentile(norms, p) -> np.ndarray:
    """AutoClip's threshold at every step: the ``p``-th percentile of the norms so far, this one included."""
    return np.array([np.percentile(norms[: t + 1], p) for t in range(norms.size)])


def _bad_runs(namespace) -> dict:
    """Section 5's unclipped adding-problem runs at learning rate 1: what ½ and 10 × their mean norm clip."""
    runs = namespace["measured"].histories("no clipping", 1.0)
    norms = _finite(runs)
    mean, median = norms.mean(), np.median(norms)
    learned = sum(h.final_loss() < namespace["LEARNED"] for h in runs)
    return {
        "half": np.mean(norms > mean / 2),
        "ten": np.mean(norms > 10 * mean),
        "half_median": np.mean(norms > median / 2),
        "ten_median": np.mean(norms > 10 * median),
        "c_adding": np.mean(norms > namespace["C_ADDING"]),
        "learned": learned,
        "not_learned": len(runs) - learned,
    }


def _autoclip_90(namespace) -> dict:
    """AutoClip replayed on section 1's unclipped seed-1 norms: the fraction clipped at p = 90 (and 10, and seed 0's),
    and its last threshold against ``C_FASHION``."""
    unclipped = namespace["unclipped"]
    norms = {s: _finite([h]) for s, h in zip(unclipped.seeds, unclipped.histories[0], strict=True)}
    thresholds = _running_percentile(norms[1], 90)
    last, fixed = thresholds[-1], namespace["C_FASHION"]
    return {
        "p90": np.mean(norms[1] > thresholds),
        "p10": np.mean(norms[1] > _running_percentile(norms[1], 10)),
        "seed0": np.mean(norms[0] > _running_percentile(norms[0], 90)),
        "final": "higher" if last > fixed else "lower" if last < fixed else "the same",
    }


def _agc_ratios(namespace) -> dict:
    """Among the variables AGC clips, the one with the largest unit-wise ratio, and how many of its units exceed 0.1
    (and 0.01; and over every clipped variable)."""
    unit_ratios, final = namespace["unit_ratios"], set(namespace["final"])
    short = {path: path.split("/", 1)[1] for path in unit_ratios}
    clipped = [path for i, path in enumerate(unit_ratios) if i not in final]
    top = max(clipped, key=lambda path: np.max(unit_ratios[path]))
    ratios = np.asarray(unit_ratios[top])
    names = [name for name, others in VARIABLES.items() if short[top] in (name, *others)]
    if not names:
        raise ValueError(
            f"{short[top]!r} is not a variable of the article's LSTM this check knows: {list(VARIABLES)}"
        )
    return {
        "variable": names[0],
        "at_0.1": int(np.sum(ratios > 0.1)),
        "at_0.01": int(np.sum(ratios > 0.01)),
        "every_variable": int(sum(np.sum(np.asarray(unit_ratios[p]) > 0.1) for p in clipped)),
        "below": int(np.sum(ratios <= 0.1)),
    }


def _growing(namespace) -> dict:
    """AutoClip (p = 10) replayed on norms growing 5 % a step for 200 steps: how much its threshold grows."""
    norms = 1.05 ** np.arange(200)
    thresholds = _running_percentile(norms, 10)
    return {
        "threshold": thresholds[-1] / thresholds[0],
        "norm": norms[-1] / norms[0],
        "norm_200": 1.05**200,
        "trail": norms[-1] / thresholds[-1],
    }


EXERCISES = (
    Exercise(
        "05.1",
        parts=(
            Part(
                "the fraction of those steps that c = ½ × their mean norm would clip",
                "fraction",
                "half",
                mistakes=(
                    ("ten", "that is the fraction at the other end, 10 × the mean."),
                    (
                        "half_median",
                        "that uses the median; Pascanu's range is around the mean norm.",
                    ),
                    ("c_adding", "that is the fraction C_ADDING would clip."),
                ),
            ),
            Part(
                "the fraction of those steps that c = 10 × their mean norm would clip",
                "fraction",
                "ten",
                mistakes=(
                    ("half", "that is the fraction at the other end, ½ × the mean."),
                    (
                        "ten_median",
                        "that uses the median; Pascanu's range is around the mean norm.",
                    ),
                ),
            ),
            Part(
                "in how many of the 3 runs at learning rate 1 the adding problem was learned",
                "count",
                "learned",
                mistakes=(("not_learned", "that counts the runs that did not learn."),),
            ),
        ),
        compute=_bad_runs,
        needs=(("measured", "section 5"), ("LEARNED", "section 5"), ("C_ADDING", "section 5")),
        hint='finite_norms(measured.histories("no clipping", 1.0)) gives the norms; np.mean(norms > c) is the '
        "fraction a threshold c clips; learned(runs) counts the runs that learned.",
        mentions=(
            "runs that fail wander where the gradients are unlike a healthy run's, so their norms are large and "
            "erratic",
            "their mean, and Pascanu's range around it, then says little about a good threshold: measure on runs "
            "that train (C_ADDING comes from the runs at learning rate 0.1)",
        ),
    ),
    Exercise(
        "05.2",
        parts=(
            Part(
                "the fraction of seed 1's steps that AutoClip with p = 90 clips",
                "fraction",
                "p90",
                mistakes=(
                    (
                        "p10",
                        "that is AutoClip with p = 10, the paper's choice (section 3); the exercise asks p = 90.",
                    ),
                    ("seed0", "that is seed 0's run; seed 1 is unclipped.histories[0][1]."),
                ),
            ),
            Part(
                "AutoClip's last threshold, against C_FASHION",
                "choice",
                "final",
                choices={
                    "higher": ("above", "larger"),
                    "lower": ("below", "smaller"),
                    "the same": ("same",),
                },
                mistakes=(
                    (
                        "lower",
                        "a 90th percentile is above most of the norms seen, and C_FASHION is their median "
                        "(section 2): compare the last threshold with it.",
                    ),
                    ("the same", "compare the last threshold with C_FASHION: they differ."),
                ),
            ),
        ),
        compute=_autoclip_90,
        needs=(("unclipped", "section 1"), ("C_FASHION", "section 2")),
        hint="at every step t the threshold is np.percentile(norms[:t + 1], 90), and the step is clipped when its "
        "norm is above it; seed 1's norms are unclipped.histories[0][1].grad_norm.",
        mentions=(
            "a high percentile clips only the rare largest steps, about 1 − p/100 of them once the history is long",
            "its threshold ends far above a fixed threshold at the median: AutoClip at p = 90 guards against spikes "
            "only",
        ),
    ),
    Exercise(
        "05.3",
        parts=(
            Part(
                "the variable, among those AGC clips, with the largest unit-wise ratio (as section 4's table names it)",
                "choice",
                "variable",
                choices=VARIABLES,
                mistakes=(("softmax/bias", FINAL_LAYER), ("softmax/kernel", FINAL_LAYER)),
            ),
            Part(
                "how many of its units AGC would clip at λ = 0.1",
                "count",
                "at_0.1",
                mistakes=(
                    (
                        "at_0.01",
                        "that is the count at λ = 0.01, section 4's λ; the exercise asks λ = 0.1.",
                    ),
                    (
                        "every_variable",
                        "that counts the units of every variable AGC clips; the question asks about that one variable.",
                    ),
                    ("below", "that counts the units at or below λ = 0.1, which AGC leaves alone."),
                ),
            ),
        ),
        compute=_agc_ratios,
        needs=(("unit_ratios", "section 4"), ("final", "section 4")),
        hint="unit_ratios maps each variable to its per-unit ratios ‖G_i‖/max(‖W_i‖, ε); leave out the indices in "
        "final, take the variable with the largest .max(), then count its units above 0.1.",
    ),
    Exercise(
        "05.4",
        parts=(
            Part(
                "the factor by which AutoClip's threshold grows from step 1 to step 200",
                "number",
                "threshold",
                mistakes=(
                    (
                        "norm",
                        "that is how much the norm grew; the question asks about the threshold.",
                    ),
                    (
                        "norm_200",
                        "that is 1.05^200, the norm's growth (over one step more); the question asks "
                        "about the threshold.",
                    ),
                    (
                        "trail",
                        "that is how much more the norm grew than the threshold (and, by symmetry, what "
                        "p = 90 would give); the question asks how much the threshold itself grew, p = 10.",
                    ),
                ),
            ),
        ),
        compute=_growing,
        hint="with norms = 1.05 ** np.arange(200), the threshold at step t is np.percentile(norms[:t + 1], 10); "
        "divide the last by the first.",
        mentions=(
            "the threshold grows too: AutoClip has no absolute bound, so it slows an explosion and does not stop it",
            "the 10th percentile of a growing history trails the newest norm (about the norm of step 20 of 200)",
        ),
    ),
)
