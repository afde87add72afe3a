"""``claims_06.check`` (the claims of notebook 06, checked against its printed lines) on the outputs of one executed
run (CI subset, 800 training images) and on copies with one claim broken: it must pass the first and name each break."""

from __future__ import annotations

import claims_06
import pytest

OUTPUTS = """
100 steps of 32 images; held-out loss on 200 images 1.158 (chance ln 10 = 2.303); below 0.7 × chance: True
100 steps read back from the event files; tags: ['clipped', 'grad_norm']
clipped 26 of 100 steps; median pre-clip norm 0.725, max 1.96
‖g‖ = 0.382, ‖S·g‖ = 391, threshold c = 0.2
update length, clip S·g at c, unscale:   0.000195 (c/S = 0.000195)
update length, clip S·g at c·S, unscale: 0.2
update length, unscale then clip at c:   0.2
LossScaleOptimizer(SGD(global_clipnorm=c)): update length 0.2
max |Δ| to 'unscale then clip': 5.08e-08
    Keras, clip the average once: [-0.6 -0.8], length 1.00, 0.0° away from -ḡ
hand loop, clip each micro-batch: [-0.5 -0.5], length 0.71, 8.1° away from -ḡ
each micro-batch gradient clipped: [[1.0, 0.0], [0.0, 1.0]]
SGD(global_clipnorm=1): one device [ 0.707 -0.707], length 1.000; two replicas [ 1. -1.], length 1.414
    clipping_optimizer: one device [ 0.707 -0.707], length 1.000; two replicas [ 0.707 -0.707], length 1.000
one device clipped 10 of 10 steps
clipping_optimizer, 2 replicas: max |Δw| to one device 1.19e-07
Keras global_clipnorm, 2 replicas: max |Δw| to one device 9.94e-02
Keras, one device: first skipped steps [20, 26, 32, 45], final loss scale 1.64e+04, weights NaN from step None; held-out loss 1.287, below 0.7 × chance: True
Keras, 2 replicas: first skipped steps [21, 22, 23, 24], final loss scale 2.17e-19, weights NaN from step 20; held-out loss nan, below 0.7 × chance: False
Keras on 2 replicas applied a step one device skipped, and its weights turned NaN: True
ours, 2 replicas: first skipped steps [20, 26, 35, 46], final loss scale 1.64e+04, weights NaN from step None; held-out loss 1.233, below 0.7 × chance: True
ours, 2 replicas: the loss scale equals one device's for the first 32 steps, skipped steps [20, 26] included: True; all weights finite: True
clipped 11% of 100 steps; median pre-clip norm 0.47, largest 4.03
mean loss over the last 20 steps 1.022 (chance ln 10 = 2.303); below 0.7 × chance: True
effective threshold c/S = 3.05e-05; section 1's smallest pre-clip
norm is 0.229, so it would clip 100 of 100 steps
R = 1: per replica 1·c, after the sum 1·c
R = 2: per replica 1.41·c, after the sum 1·c
R = 4: per replica 2·c, after the sum 1·c
R = 8: per replica 2.83·c, after the sum 1·c
"""  # noqa: E501


def test_the_outputs_of_a_run_keep_every_claim():
    assert claims_06.check(OUTPUTS) == []


@pytest.mark.parametrize(
    "old, new, section",
    [
        (
            "on 200 images 1.158",
            "on 200 images 2.310",
            "section 1 trains",
        ),  # e.g. pixels scaled twice: at chance
        ("clipped 26 of 100 steps", "clipped 100 of 100 steps", "section 1's per-step log"),
        ("(c/S = 0.000195)", "(c/S = 0.02)", "length c/S"),
        ("[-0.5 -0.5], length 0.71, 8.1°", "[-0.5 -0.5], length 0.71, 0.0°", "section 3"),
        (
            "two replicas [ 1. -1.], length 1.414",
            "two replicas [ 0.707 -0.707], length 1.000",
            "each replica's share",
        ),
        ("to one device 1.19e-07", "to one device 2.00e-03", "ours equals one device"),
        ("turned NaN: True", "turned NaN: False", "its weights turn NaN"),
        ("all weights finite: True", "all weights finite: False", "all weights finite"),
        ("last 20 steps 1.022", "last 20 steps 2.200", "section 6's run trains"),
        ("R = 4: per replica 2·c", "R = 4: per replica 1·c", "exercise 2"),
    ],
)
def test_a_broken_claim_is_named(old, new, section):
    assert old in OUTPUTS
    broken = claims_06.check(OUTPUTS.replace(old, new, 1))
    assert broken and all(section in message for message in broken), broken


def test_a_missing_line_is_a_broken_claim():
    without = "\n".join(
        line for line in OUTPUTS.splitlines() if not line.startswith("ours, 2 replicas: first")
    )
    assert any("is missing" in message for message in claims_06.check(without))
    with pytest.raises(TypeError, match="outputs"):
        claims_06.check(["not", "a", "str"])
