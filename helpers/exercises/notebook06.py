"""The checks of notebook 06's exercises: the threshold a scaled loop really applies, clipping per replica."""

from __future__ import annotations

import numpy as np

from helpers.exercises.core import Exercise, Part

SCALE = 2.0**15  # exercise 1's loss scale S
REPLICAS = (1, 2, 4, 8)  # exercise 2's R


def _scaled_threshold(namespace) -> dict:
    """Clipping S·g at section 1's ``C``, then dividing by S: the threshold on g and how many logged steps exceed it."""
    c, norms = float(namespace["C"]), np.asarray(namespace["norms"], np.float64)

    def above(threshold: float) -> int:
        return int(np.sum(norms > threshold))

    effective = c / SCALE
    return {
        "effective": effective,
        "times_s": c * SCALE,
        "c": c,
        "s_over_c": SCALE / c,
        "count": above(effective),
        "count_at_c": above(c),
        "count_at_cs": above(c * SCALE),
        "left_alone": len(norms) - above(effective),
    }


def per_replica_lengths(namespace=None) -> dict:
    """R partial gradients of length 2c along R orthogonal directions, clipped at c per replica (Keras under
    ``MirroredStrategy``) or once after the sum; the update's length in units of c, for each R of ``REPLICAS``."""
    import tensorflow as tf

    from helpers import clipping

    per_replica, after_sum = [], []
    for r in REPLICAS:
        parts = [tf.constant(2.0 * np.eye(r, dtype=np.float32)[i]) for i in range(r)]
        clipped = tf.add_n([clipping.clip_by_global_norm([p], 1.0)[0][0] for p in parts])
        per_replica.append(float(tf.norm(clipped)))
        after_sum.append(float(tf.norm(clipping.clip_by_global_norm([tf.add_n(parts)], 1.0)[0][0])))
    return {
        "per_replica": per_replica,
        "after_sum": after_sum,
        "unclipped": [2 * np.sqrt(r) for r in REPLICAS],
        "along_one": [float(r) for r in REPLICAS],
    }


EXERCISES = (
    Exercise(
        "06.1",
        parts=(
            Part(
                "the threshold the loop effectively applies to the true gradient g",
                "number",
                "effective",
                mistakes=(
                    (
                        "times_s",
                        "that is c·S, the threshold the scaled gradient would need: off by a factor S² (c/S vs c·S).",
                    ),
                    ("c", "that is c itself: the clip acted on S·g, so on g it bites at c/S."),
                    ("s_over_c", "upside down: ‖S·g‖ > c means ‖g‖ > c/S."),
                ),
            ),
            Part(
                "how many of section 1's logged steps it would have clipped",
                "count",
                "count",
                mistakes=(
                    (
                        "count_at_c",
                        "that counts the steps above c; the loop clips every step above c/S.",
                    ),
                    (
                        "count_at_cs",
                        "that counts the steps above c·S; the loop clips every step above c/S.",
                    ),
                    ("left_alone", "that counts the steps it would leave alone."),
                ),
            ),
        ),
        compute=_scaled_threshold,
        needs=(("C", "section 1"), ("norms", "section 1")),
        hint="the tape returns S·g; the clip fires when ‖S·g‖ > c. Divide by S: for which ‖g‖ does that hold? Then "
        "compare that threshold with section 1's logged pre-clip norms (norms).",
        mentions=(
            "every step is clipped to a length c/S, tiny next to the true gradients: training crawls",
            "the fix is to unscale first (LossScaleOptimizer does), or clip the scaled gradient at c·S",
        ),
    ),
    Exercise(
        "06.2",
        parts=(
            Part(
                "the update's length in units of c after Keras's per-replica clipping, for R = 1, 2, 4, 8",
                "list",
                "per_replica",
                mistakes=(
                    (
                        "after_sum",
                        "that is clipping after the sum; each replica clips its own part to c, and R orthogonal "
                        "parts of length c add up to √R·c (×√R).",
                    ),
                    (
                        "unclipped",
                        "that is the unclipped sum, 2c·√R: each replica clips its part first.",
                    ),
                    (
                        "along_one",
                        "that is R parts of length c along one direction; these parts are orthogonal.",
                    ),
                ),
            ),
            Part(
                "the update's length in units of c after clipping the sum, for R = 1, 2, 4, 8",
                "list",
                "after_sum",
                mistakes=(
                    (
                        "per_replica",
                        "that is per-replica clipping; the sum, clipped once, is at most c long.",
                    ),
                    (
                        "unclipped",
                        "that is the unclipped sum, 2c·√R: clipping the sum brings it down to c.",
                    ),
                ),
            ),
        ),
        compute=per_replica_lengths,
        hint="R orthogonal vectors of length ℓ add up to a vector of length √R·ℓ. What is ℓ after each replica "
        "clips its own part at c, and what does clipping the sum do to its length?",
        mentions=(
            "per-replica clipping grows with the number of replicas (√R·c), so the same code changes its step with "
            "the hardware",
            "clipping after the all-reduce gives the one-device update, whatever R",
        ),
    ),
)
