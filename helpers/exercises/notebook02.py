"""The checks of notebook 02's exercises: predict the linear decay, the GRU's factor, a smaller learning rate."""

from __future__ import annotations

import numpy as np

from helpers.exercises.core import Exercise, Part

RHO, LENGTH = 0.9, 80  # exercise 1's ρ and T


def _linear_ratio(namespace) -> dict:
    """‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ of a linear RNN with W = ρQ, from ``helpers.gradients.linear_prediction``."""
    from helpers.gradients import linear_prediction

    predicted = linear_prediction(RHO, 1.0, LENGTH)
    ratio = predicted[0] / predicted[-1]
    return {"ratio": ratio, "one_more": ratio * RHO, "one_less": ratio / RHO, "inverse": 1 / ratio}


def _factor(norms) -> float:
    """The average factor per step back, as section 4's ``factor``."""
    return float((norms[0] / norms[-1]) ** (1 / (len(norms) - 1)))


def _gru_or_simple(namespace) -> dict:
    """Which factor per step moves less over ``RHO_RANGE``: a tanh GRU's (measured here) or the SimpleRNN's."""
    from helpers.gradients import step_gradient_norms
    from helpers.models import recurrent_model, set_spectral_radius

    seed, rhos = namespace["SEED"], namespace["RHO_RANGE"]
    gru = recurrent_model("GRU", units=32, activation="tanh", seed=seed, dtype="float64")
    gru_factors = []
    for rho in rhos:
        set_spectral_radius(gru.get_layer("rnn"), rho, seed=seed)
        gru_factors.append(
            _factor(step_gradient_norms(gru, namespace["x100"], namespace["y100"]).hidden)
        )
    simple = [_factor(namespace["tanh_runs"][rho]) for rho in rhos]
    gru_spread, simple_spread = np.ptp(gru_factors), np.ptp(simple)
    less = (
        "the same"
        if gru_spread == simple_spread
        else "GRU"
        if gru_spread < simple_spread
        else "SimpleRNN"
    )
    return {"less": less}


EXERCISES = (
    Exercise(
        "02.1",
        parts=(
            Part(
                "the predicted ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ for ρ = 0.9, T = 80",
                "number",
                "ratio",
                mistakes=(
                    (
                        "one_more",
                        "that is ρ^T, one factor ρ too many: from h_T back to h_1 there are T − 1 steps.",
                    ),
                    (
                        "one_less",
                        "one factor ρ too few: from h_T back to h_1 there are T − 1 steps.",
                    ),
                    ("inverse", "upside down: that is ‖∂L/∂h_T‖ / ‖∂L/∂h_1‖."),
                ),
            ),
        ),
        compute=_linear_ratio,
        hint="each step back through a linear RNN with W = ρQ (Q orthogonal) multiplies the gradient's norm by ρ. "
        "How many steps lie between h_T and h_1?",
    ),
    Exercise(
        "02.2",
        parts=(
            Part(
                "whose factor per step changes less over ρ = 0.8, 1.5, 3.0",
                "choice",
                "less",
                choices={
                    "GRU": ("gru",),
                    "SimpleRNN": ("simple rnn", "rnn"),
                    "the same": ("same", "neither"),
                },
                mistakes=(
                    (
                        "SimpleRNN",
                        "the SimpleRNN's only path from h_{t−1} to h_t goes through W, so its factor "
                        "follows ρ (section 4's table). Measure the GRU's at the three ρ and compare the "
                        "spreads, max − min.",
                    ),
                    (
                        "the same",
                        "compare the spreads (max − min over the three ρ) of the two factors: they differ.",
                    ),
                ),
            ),
        ),
        compute=_gru_or_simple,
        needs=(
            ("SEED", "Setup"),
            ("x100", "section 4"),
            ("y100", "section 4"),
            ("tanh_runs", "section 4"),
            ("RHO_RANGE", "section 5"),
        ),
        hint='build recurrent_model("GRU", ...), set its ρ with set_spectral_radius and measure factor(...) as in '
        "sections 4 and 5; compare how far each factor moves over the three ρ.",
        mentions=(
            "the GRU's direct path h_{t−1} → h_t is multiplied by the update gate z_t (a sigmoid, between 0 and 1), "
            "not by W",
            "W enters through the candidate ĥ_t, which is scaled by 1 − z_t, and through the gates' sigmoids",
            "so the GRU's factor depends on ρ less than the SimpleRNN's, whose only path goes through W; compare it "
            "with the LSTM's cell state too (section 5)",
        ),
    ),
    Exercise(
        "02.3",
        hint="set optimizer.learning_rate to half of LEARNING_RATE, retrain each seed with "
        "train_steps(*start(seed), tf.constant(STEPS)), set it back, and compare seed by seed.",
        mentions=(
            "the norms relative to the median come from the gradient (products of Jacobians over the minibatch), "
            "not from the step size: compare the largest ‖g‖/median of the two rates",
            "every step is half as long, the damaging ones included: the largest one-step rises of the held-out "
            "loss shrink or not (the first printed count), but the long steps are still there",
            "what it costs: every ordinary step is half as long too; compare the final held-out loss and the step "
            "where it first falls below half the baseline (the other two counts)",
            "capping only the rare long steps and leaving the others alone is what clipping does (notebooks 03–05)",
        ),
    ),
)
