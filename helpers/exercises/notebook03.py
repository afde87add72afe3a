"""The checks of notebook 03's exercises: scalar variables, the largest turn, the longest clipped step, the bias."""

from __future__ import annotations

import numpy as np

from helpers.exercises.core import Exercise, Part

C_TRY = 10.0  # exercise 3: the threshold whose longest clipped step the learner gives


def _flat(gradients) -> np.ndarray:
    return np.concatenate([np.ravel(g) for g in gradients]).astype(np.float64)


def _angle(a, b) -> float:
    """The angle between two vectors, in degrees (float64)."""
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def _scalar_rule(namespace) -> dict:
    """Which Keras rule ``helpers.clipping.clip_by_norm`` equals on scalar variables (random ones, seeded)."""
    import tensorflow as tf

    from helpers import clipping

    scalars = [
        tf.constant(v)
        for v in np.random.default_rng(0).normal(scale=3.0, size=8).astype(np.float32)
    ]
    by_norm = _flat(clipping.clip_by_norm(scalars, 1.0)[0])
    same = {
        "clipvalue": np.array_equal(by_norm, _flat(clipping.clip_by_value(scalars, 1.0)[0])),
        "global_clipnorm": np.array_equal(
            by_norm, _flat(clipping.clip_by_global_norm(scalars, 1.0)[0])
        ),
    }
    return {"rule": next((name for name, equal in same.items() if equal), "neither")}


def _largest_turn(namespace) -> dict:
    """The largest angle value clipping turns a long 2-D gradient by, over all directions, in degrees."""
    thetas = np.radians(np.linspace(0.0, 90.0, 9001))
    vectors = 100.0 * np.stack([np.cos(thetas), np.sin(thetas)], axis=1)
    clipped = np.clip(vectors, -0.01, 0.01)
    cos = np.sum(vectors * clipped, axis=1) / (
        np.linalg.norm(vectors, axis=1) * np.linalg.norm(clipped, axis=1)
    )
    largest = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).max())
    return {"largest": largest, "radians": np.radians(largest), "right": 90.0, "none": 0.0}


def _longest_step(namespace) -> dict:
    """The bound on a clipped step at ``C_TRY`` with section 3's learning rate, and the unclipped run's longest."""
    rate = float(namespace["learning_rate"])
    return {
        "bound": rate * C_TRY,
        "threshold": C_TRY,
        "divided": C_TRY / rate,
        "unclipped": float(np.max(namespace["sizes"]["unclipped"])),
    }


def _which_turns_more(namespace) -> dict:
    """Section 4's angle between E clip(g) and E g, for global and per-tensor clipping at their median norms."""
    from helpers import clipping

    samples, mean_gradient = namespace["samples"], namespace["mean_gradient"]
    tensor_norms = np.array([clipping.tensor_norms(g).numpy() for g in samples])
    angles = {}
    for name, rule, c in (
        ("global", clipping.clip_by_global_norm, np.median(namespace["norms"])),
        ("per-tensor", clipping.clip_by_norm, np.median(tensor_norms)),
    ):
        clipped_mean = np.mean([_flat(rule(g, float(c))[0]) for g in samples], axis=0)
        angles[name] = _angle(clipped_mean, np.asarray(mean_gradient, np.float64))
    more = "the same" if angles["global"] == angles["per-tensor"] else max(angles, key=angles.get)
    return {"more": more}


EXERCISES = (
    Exercise(
        "03.1",
        parts=(
            Part(
                "the Keras argument that clipnorm=c equals when every variable is one number",
                "choice",
                "rule",
                choices={
                    "clipvalue": ("value",),
                    "global_clipnorm": ("global", "global norm"),
                    "neither": ("none",),
                },
                mistakes=(
                    (
                        "global_clipnorm",
                        "global clipping rescales all the scalars by one common factor, keeping "
                        "the whole gradient's direction; clipnorm takes each variable on its own, "
                        "so each scalar is clipped by itself.",
                    ),
                    (
                        "neither",
                        "for a scalar, ‖g‖ = |g|: write g·c / max(|g|, c) for g > c, for −c ≤ g ≤ c and for g < −c.",
                    ),
                ),
            ),
        ),
        compute=_scalar_rule,
        hint="for a scalar, what is ‖g‖? Or try clipping.clip_by_norm and clipping.clip_by_value on a list of "
        "scalar tensors.",
    ),
    Exercise(
        "03.2",
        parts=(
            Part(
                "the largest angle, in degrees, by which value clipping can turn a 2-D gradient",
                "number",
                "largest",
                tolerance=0.5,
                relative=False,
                mistakes=(
                    ("radians", "that is in radians: give the angle in degrees."),
                    (
                        "right",
                        "90° would need a component to change sign or vanish; value clipping keeps every "
                        "component's sign and never sets a non-zero one to 0.",
                    ),
                    (
                        "none",
                        "value clipping does turn a gradient: see g = (3, 0.5) at c = 1 in section 1.",
                    ),
                ),
            ),
        ),
        compute=_largest_turn,
        hint="the turn is largest when one component is clipped hard and the other hardly at all. Where does the "
        "clipped vector point when both components are cut to ±c?",
    ),
    Exercise(
        "03.3",
        parts=(
            Part(
                "the longest a clipped step can be at c = 10, with section 3's learning rate",
                "number",
                "bound",
                mistakes=(
                    (
                        "threshold",
                        "that is c, the longest clipped gradient; the step is the learning rate times it.",
                    ),
                    (
                        "divided",
                        "that divides c by the learning rate; the update multiplies the clipped gradient by it.",
                    ),
                    (
                        "unclipped",
                        "that is the unclipped run's longest step; a clipped one is shorter.",
                    ),
                ),
            ),
        ),
        compute=_longest_step,
        needs=(("learning_rate", "section 3"), ("sizes", "section 3")),
        hint="Algorithm 1 makes the clipped gradient at most c long; the update multiplies it by the learning rate.",
        mentions=(
            "a clipped step is at most η·c long, however steep the wall",
            "the clip acting at the wall does not protect by itself: η·c must be small against the narrow region "
            "around the wall (the printed ends and final losses)",
            "above the wall's gradient norm the clip never acts, and the run is the unclipped one",
        ),
    ),
    Exercise(
        "03.4",
        parts=(
            Part(
                "which clipping turns the mean update more",
                "choice",
                "more",
                choices={
                    "per-tensor": ("per tensor", "clipnorm", "norm", "tensor"),
                    "global": ("global norm", "global_clipnorm"),
                    "the same": ("same", "neither"),
                },
                mistakes=(
                    (
                        "global",
                        "global clipping multiplies a minibatch's whole gradient by one factor: it can only "
                        "re-weight the minibatches in the mean. Measure both angles to E g.",
                    ),
                    (
                        "the same",
                        "measure both angles to E g, each rule at its median threshold: they differ.",
                    ),
                ),
            ),
        ),
        compute=_which_turns_more,
        needs=(("samples", "section 4"), ("norms", "section 4"), ("mean_gradient", "section 4")),
        hint="as in section 4, clip every sample with clipping.clip_by_norm at the median of the tensor norms "
        "(clipping.tensor_norms), average, and measure the angle to mean_gradient; then the same with "
        "clip_by_global_norm at the median global norm.",
        mentions=(
            "global clipping scales each minibatch gradient by one factor: it keeps each one's direction and only "
            "re-weights them in the mean",
            "per-tensor clipping also changes the proportions between the tensors inside each minibatch gradient, "
            "so it turns each of them",
            "the two compared fairly: each at the median of the norms it clips by (global norms, tensor norms)",
        ),
    ),
)
