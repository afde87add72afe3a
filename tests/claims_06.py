"""The claims notebook 06's prose makes, checked against the text its executed cells print.

``check(outputs)`` takes the concatenated text outputs of an executed ``06_clipping_in_real_training_setups.ipynb``
and returns the broken claims (an empty list when every claim holds). Each claim is one or more printed lines, found
by a regular expression and compared with numbers; a line that is missing is a broken claim too (its cell changed
or did not run). Wired into ``tests/test_claims.py``.
"""

from __future__ import annotations

import math
import re

CHANCE = math.log(10)  # the loss of a uniform guess over Fashion-MNIST's 10 classes
NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|nan|inf)"


def _numbers(match: re.Match) -> list[float]:
    return [
        float(group)
        for group in match.groups()
        if group is not None and re.fullmatch(NUMBER, group)
    ]


class _Claims:
    def __init__(self, outputs: str):
        self.outputs = outputs
        self.broken: list[str] = []

    def line(self, claim: str, pattern: str) -> re.Match | None:
        """The first printed line matching ``pattern``, or None (and the claim broken: the line is missing)."""
        match = re.search(pattern, self.outputs)
        if match is None:
            start = re.split(r"[\\(\[{]", pattern, maxsplit=1)[0].strip()
            self.broken.append(f"{claim}: its printed line ({start!r}...) is missing")
        return match

    def require(self, claim: str, condition: bool, detail: str) -> None:
        if not condition:
            self.broken.append(f"{claim}: {detail}")


def _close(a: float, b: float, rel: float = 0.01) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b))


def _section1(c: _Claims) -> None:
    claim = "section 1 trains (held-out loss well below chance)"
    m = c.line(
        claim,
        rf"held-out loss on (\d+) images {NUMBER} \(chance ln 10 = {NUMBER}\); "
        r"below 0\.7 × chance: (True|False)",
    )
    if m:
        loss = float(m[2])
        c.require(
            claim,
            m[4] == "True" and loss < 0.7 * CHANCE,
            f"held-out loss {loss} (chance {CHANCE:.3f})",
        )
    claim = "section 1's per-step log is read back from TensorBoard, and the clip fires on some steps, not all"
    read = c.line(claim, r"(\d+) steps read back from the event files")
    m = c.line(claim, r"clipped (\d+) of (\d+) steps; median pre-clip norm")
    if read and m:
        clipped, total = int(m[1]), int(m[2])
        c.require(claim, int(read[1]) == total and 0 < clipped < total, f"{read[0]!r}, {m[0]!r}")


def _section2(c: _Claims) -> None:
    claim = "section 2: the batch's gradient exceeds the threshold c"
    m = c.line(claim, rf"‖g‖ = {NUMBER}, ‖S·g‖ = {NUMBER}, threshold c = {NUMBER}")
    threshold = None
    if m:
        norm, _, threshold = _numbers(m)
        c.require(claim, norm > threshold, m[0])
    claim = "section 2: clipping S·g at c leaves an update of length c/S"
    m = c.line(claim, rf"clip S·g at c, unscale:\s+{NUMBER} \(c/S = {NUMBER}\)")
    if m:
        c.require(claim, _close(*_numbers(m)), m[0])
    claim = "section 2: clipping S·g at c·S equals unscaling first, an update of length c"
    at_cs = c.line(claim, rf"clip S·g at c·S, unscale:\s+{NUMBER}")
    right = c.line(claim, rf"unscale then clip at c:\s+{NUMBER}")
    if at_cs and right and threshold is not None:
        c.require(
            claim,
            _close(float(at_cs[1]), threshold) and _close(float(right[1]), threshold),
            f"{at_cs[0]!r}, {right[0]!r}, c = {threshold}",
        )
    claim = "section 2: Keras's LossScaleOptimizer unscales before its inner optimizer clips"
    length = c.line(
        claim, rf"LossScaleOptimizer\(SGD\(global_clipnorm=c\)\): update length {NUMBER}"
    )
    gap = c.line(claim, rf"max \|Δ\| to 'unscale then clip': {NUMBER}")
    if length and gap and threshold is not None:
        c.require(
            claim,
            _close(float(length[1]), threshold) and float(gap[1]) < 1e-6,
            f"{length[0]!r}, {gap[0]!r}",
        )


def _section3(c: _Claims) -> None:
    claim = "section 3: clip once gives [-0.6, -0.8] (length c = 1, along -ḡ); clip each [-0.5, -0.5] (0.71, turned)"
    once = c.line(
        claim, rf"clip the average once: \[-0\.6 -0\.8\], length {NUMBER}, {NUMBER}° away"
    )
    each = c.line(
        claim, rf"clip each micro-batch: \[-0\.5 -0\.5\], length {NUMBER}, {NUMBER}° away"
    )
    parts = c.line(claim, r"each micro-batch gradient clipped: \[\[1\.0, 0\.0\], \[0\.0, 1\.0\]\]")
    if once and each and parts:
        (a, a_angle), (b, b_angle) = _numbers(once), _numbers(each)
        c.require(
            claim,
            _close(a, 1.0) and a_angle < 0.5 and _close(b, 0.5**0.5) and b_angle > 1.0,
            f"{once[0]!r}, {each[0]!r}",
        )


def _section4(c: _Claims) -> None:
    claim = "section 4: Keras's global_clipnorm clips each replica's share (update longer than c on 2 replicas)"
    m = c.line(
        claim,
        rf"SGD\(global_clipnorm=1\): one device \[.*?\], length {NUMBER}; "
        rf"two replicas \[.*?\], length {NUMBER}",
    )
    if m:
        one, two = _numbers(m)
        c.require(claim, _close(one, 1.0) and _close(two, 2**0.5), m[0])
    claim = "section 4: clipping_optimizer gives the one-device update on 2 replicas"
    m = c.line(
        claim,
        rf"clipping_optimizer: one device \[.*?\], length {NUMBER}; two replicas \[.*?\], "
        rf"length {NUMBER}",
    )
    if m:
        c.require(claim, all(_close(x, 1.0) for x in _numbers(m)), m[0])
    claim = "section 4: on the LSTM the threshold bites, ours equals one device (< 1e-6), Keras's does not"
    bites = c.line(claim, r"one device clipped (\d+) of (\d+) steps")
    ours = c.line(claim, rf"clipping_optimizer, 2 replicas: max \|Δw\| to one device {NUMBER}")
    theirs = c.line(claim, rf"Keras global_clipnorm, 2 replicas: max \|Δw\| to one device {NUMBER}")
    if bites and ours and theirs:
        c.require(
            claim,
            int(bites[1]) > 0 and float(ours[1]) < 1e-6 and float(theirs[1]) > 1e-3,
            f"{bites[0]!r}, {ours[0]!r}, {theirs[0]!r}",
        )


def _section5(c: _Claims) -> None:
    run = (
        rf"first skipped steps \[([\d, ]*)\], final loss scale {NUMBER}, weights NaN from step (None|\d+); "
        rf"held-out loss {NUMBER}, below 0\.7 × chance: (True|False)"
    )
    claim = "section 5: on one device Keras's LossScaleOptimizer skips overflowing steps and trains"
    m = c.line(claim, "Keras, one device: " + run)
    if m:
        c.require(claim, m[1].strip() != "" and m[3] == "None" and m[5] == "True", m[0])
    claim = (
        "section 5: on 2 replicas Keras applies a step one device skipped and its weights turn NaN"
    )
    m = c.line(
        claim,
        r"Keras on 2 replicas applied a step one device skipped, and its weights turned NaN: "
        r"(True|False)",
    )
    if m:
        c.require(claim, m[1] == "True", m[0])
    claim = "section 5: fit_clipping.LossScaleOptimizer on 2 replicas stays finite and trains"
    m = c.line(claim, "ours, 2 replicas: " + run)
    if m:
        c.require(claim, m[1].strip() != "" and m[3] == "None" and m[5] == "True", m[0])
    claim = "section 5: ours takes one device's decisions and scales, skipped steps included, all weights finite"
    m = c.line(
        claim,
        r"the loss scale equals one device's for the first (\d+) steps, skipped steps \[[\d, ]*\] "
        r"included: (True|False); all weights finite: (True|False)",
    )
    if m:
        c.require(claim, m[2] == "True" and m[3] == "True", m[0])


def _section6(c: _Claims) -> None:
    claim = "section 6: the clip fires on some steps, not all"
    m = c.line(claim, r"clipped (\d+)% of (\d+) steps; median pre-clip norm")
    if m:
        c.require(claim, 0 < int(m[1]) < 100, m[0])
    claim = "section 6's run trains (last 20 steps well below chance)"
    m = c.line(
        claim,
        rf"mean loss over the last 20 steps {NUMBER} \(chance ln 10 = {NUMBER}\); "
        r"below 0\.7 × chance: (True|False)",
    )
    if m:
        c.require(claim, m[3] == "True" and float(m[1]) < 0.7 * CHANCE, m[0])


def _exercises(c: _Claims) -> None:
    claim = "exercise 2: per-replica clipping gives √R·c, clipping the sum c"
    m = c.line(claim, rf"R = 4: per replica {NUMBER}·c, after the sum {NUMBER}·c")
    if m:
        per_replica, after = _numbers(m)
        c.require(claim, _close(per_replica, 2.0) and _close(after, 1.0), m[0])


def check(outputs: str) -> list[str]:
    """The broken claims of notebook 06, given the concatenated text outputs of its executed cells."""
    if not isinstance(outputs, str):
        raise TypeError(
            f"outputs must be the notebook's text outputs as one str, got {type(outputs).__name__}"
        )
    claims = _Claims(outputs)
    for section in (_section1, _section2, _section3, _section4, _section5, _section6, _exercises):
        section(claims)
    return claims.broken
