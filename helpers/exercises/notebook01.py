"""The checks of notebook 01's exercises: float32 overflow, the sigmoid's bound, a smaller learning rate."""

from __future__ import annotations

import math

import numpy as np

from helpers.exercises.core import Exercise, Part


def _overflow(namespace) -> dict:
    """The 100th root of float32's largest number, and what other roots and logarithms give."""
    largest = float(np.finfo(np.float32).max)
    root = largest ** (1 / 100)
    return {
        "root": root,
        "negative": -root,
        "float64": float(np.finfo(np.float64).max) ** (1 / 100),
        "float16": float(np.finfo(np.float16).max) ** (1 / 100),
        "log10": math.log10(largest) / 100,
        "ln": math.log(largest) / 100,
        "divided": largest / 100,
    }


def _sigmoid_bound(namespace) -> dict:
    """1/γ for the sigmoid and for tanh, from ``helpers.theory``."""
    from helpers import theory

    gamma = theory.ACTIVATIONS["sigmoid"][2]
    return {"bound": 1 / gamma, "gamma": gamma, "tanh": 1 / theory.ACTIVATIONS["tanh"][2]}


def _learning_rates(namespace) -> dict:
    """Section 3's ``train_w``, 50 updates at 1e-4, 1e-5 …: NaN at 1e-4? The largest rate that stays finite."""
    train_w = namespace["train_w"]

    def weights(rate):  # w before each update: w_0 ... w_50
        return np.array([row[0] for row in train_w(rate, steps=51)], np.float64)

    rate = 1e-4
    w = weights(rate)
    nan = bool(np.isnan(w[-1]))
    while not np.all(np.isfinite(w)) and rate > 1e-12:
        rate /= 10
        w = weights(rate)
    return {"nan": nan, "largest": rate, "tenfold": rate * 10, "tenth": rate / 10}


EXERCISES = (
    Exercise(
        "01.1",
        parts=(
            Part(
                "the smallest |w| for which |w|^100 exceeds the largest float32",
                "number",
                "root",
                tolerance=1e-3,
                mistakes=(
                    (
                        "negative",
                        "|w| is a size, so it is positive (w below minus it overflows too: the power is even).",
                    ),
                    (
                        "float64",
                        "that is for float64's largest number; the question is about float32.",
                    ),
                    (
                        "float16",
                        "that is for float16's largest number; the question is about float32.",
                    ),
                    ("log10", "that is the base-10 logarithm of the answer: raise 10 to it."),
                    ("ln", "that is the natural logarithm of the answer: take exp of it."),
                    (
                        "divided",
                        "dividing by 100 is not the 100th root: |w|^100 > M ⇔ |w| > M^(1/100).",
                    ),
                ),
            ),
        ),
        compute=_overflow,
        hint="take the 100th root of both sides of |w|^100 > M, with M = np.finfo(np.float32).max.",
    ),
    Exercise(
        "01.2",
        parts=(
            Part(
                "the largest singular value λ₁ below which a sigmoid recurrence's gradients surely vanish",
                "number",
                "bound",
                mistakes=(
                    (
                        "gamma",
                        "that is γ, the bound on the sigmoid's slope; the condition is λ₁ < 1/γ.",
                    ),
                    (
                        "tanh",
                        "that is the bound for tanh (γ = 1); the sigmoid's slope is smaller everywhere.",
                    ),
                ),
            ),
        ),
        compute=_sigmoid_bound,
        hint="the condition is λ₁ < 1/γ, where γ bounds |σ′|. What is the sigmoid's largest slope, σ′(0)?",
    ),
    Exercise(
        "01.3",
        parts=(
            Part(
                "does the run with learning rate 1e-4 still end in NaN",
                "yes/no",
                "nan",
                mistakes=(
                    ("no", "run it: train_w(1e-4, steps=51) and look at w after 50 updates."),
                ),
            ),
            Part(
                "the largest learning rate 1e-k (k = 4, 5, 6 …) that keeps w finite for 50 updates",
                "number",
                "largest",
                mistakes=(
                    ("tenfold", "at that learning rate w still overflows to inf, then NaN."),
                    ("tenth", "that one keeps w finite, but it is not the largest that does."),
                ),
            ),
        ),
        compute=_learning_rates,
        needs=(("train_w", "section 3"),),
        hint="call train_w(rate, steps=51) for rate = 1e-4, 1e-5, … and test w after 50 updates with np.isfinite.",
        mentions=(
            "the first gradient dL/dw is huge (w^30 has 30 factors of w), so even a hundred times smaller a step "
            "throws w past the point where w^30 overflows: inf, then inf − inf = NaN, as in section 3",
            "a learning rate small enough for that first step leaves w far from the target after 50 updates "
            "(h_T far from 2): it is too small for the ordinary gradients after the first",
            "no single learning rate suits both; capping the length of the rare huge step is what clipping does "
            "(notebook 03)",
        ),
    ),
)
