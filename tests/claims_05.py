"""The claims notebook 05's prose makes, checked against its executed outputs (``tests/test_claims.py``).

``check(outputs)`` takes the text the executed notebook printed and returns one message per claim the numbers no
longer carry. Rankings of the rules are printed as verdicts, not claimed in the prose; what is checked are the
statements the prose makes as facts of this notebook's runs and of the rules' arithmetic.
"""

from __future__ import annotations

import math
import re

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"


def check(outputs: str) -> list[str]:
    broken: list[str] = []

    def claim(ok: bool, where: str, prose: str, printed) -> None:
        if not ok:
            broken.append(f"05 {where}: {prose!r} is not carried by the printed numbers: {printed}")

    def find(pattern: str) -> list[re.Match]:
        return list(re.finditer(pattern, outputs, re.MULTILINE))

    # §1: a tail of spikes pulls the mean above the median
    ratio = find(rf"\(mean / median = ({NUMBER})\)")
    claim(
        len(ratio) == 1 and float(ratio[0][1]) > 1,
        "§1",
        "a right tail ... pulls the mean above the median",
        [m[0] for m in ratio],
    )

    # §2: Pascanu's range, and what each percentile clips
    rows = {m[1].strip(): float(m[2]) for m in find(rf"^(.+?) +{NUMBER} +({NUMBER})% +{NUMBER}$")}
    low, high = rows.get("½ × mean (Pascanu, low end)"), rows.get("10 × mean (Pascanu, high end)")
    claim(
        low is not None and high is not None and low > 50 and high < 5,
        "§2",
        "its low end clips most steps ..., its high end clips only the rare spikes",
        rows,
    )
    for p in (10, 50, 90, 99):
        share = rows.get(f"p{p}")
        claim(
            share is not None and abs(share - (100 - p)) <= 1,
            "§2",
            f"the threshold at the {p}th percentile clips {100 - p}% of the steps it was measured on",
            share,
        )

    # §3: AutoClip — the first step is never clipped; most are after; the helper equals the notebook's version
    first = find(rf"‖g‖ = +({NUMBER}) +threshold +({NUMBER}) +‖clipped‖ = ({NUMBER})")
    claim(
        bool(first) and float(first[0][1]) == float(first[0][2]) == float(first[0][3]),
        "§3",
        "the first step is never clipped (its threshold is its own norm)",
        [m[0] for m in first[:1]],
    )
    gap = find(rf"the thresholds differ by at most ({NUMBER}) \(relative\)")
    claim(
        len(gap) == 1 and float(gap[0][1]) < 1e-5,
        "§3",
        "the same rule ... in float32",
        [m[0] for m in gap],
    )
    agree = find(rf"clipped ⇔ ‖g‖ > running percentile on ({NUMBER})% of the steps")
    claim(
        len(agree) == 1 and float(agree[0][1]) == 100,
        "§3",
        "it clipped exactly the steps above it",
        [m[0] for m in agree],
    )
    share = find(rf"steps clipped: ({NUMBER})%; threshold at step 1")
    claim(
        len(share) == 1 and float(share[0][1]) > 50,
        "§3",
        "with p = 10 ... most steps are clipped",
        [m[0] for m in share],
    )

    # §4: AGC — the final layer's zero bias has the largest ratio of all
    ratios = {m[1]: float(m[2]) for m in find(rf"^(\S+/\S+) +\([\d, ]*\) +\d+ +({NUMBER}) ")}
    claim(
        bool(ratios) and max(ratios, key=ratios.get) == "softmax/bias",
        "§4",
        "its zero bias would otherwise have the largest ratio of all",
        ratios,
    )

    # §5: the threshold of the adding problem comes from runs that did not diverge and learned
    stable = find(
        r"^no clipping, lr 0\.1: learned in (\d)/(\d) seeds, diverged at steps \[([^\]]*)\]"
    )
    claim(
        len(stable) == 1 and stable[0][1] == stable[0][2] and not stable[0][3].strip(),
        "§5",
        "the unclipped runs at the smallest learning rate ... did not diverge and trained well",
        [m[0] for m in stable],
    )
    learned = {m[1].strip(): m[2] for m in find(r"^(.+?) learned at lr 0\.1, 0\.3, 1: (.*)$")}
    every_seed = [
        label
        for label, counts in learned.items()
        if any(c.split("/")[0] == c.split("/")[1] for c in counts.split(", "))
    ]
    claim(
        len(learned) == 4 and every_seed,
        "§5",
        "the adding problem is learned (by at least one method in all seeds)",
        learned,
    )

    # exercise 4: AutoClip's threshold grows with growing norms, but trails them (about the norm of step 20)
    growth = find(
        rf"threshold at step 1: ({NUMBER}), at step 200: ({NUMBER}) \(× {NUMBER}\); the norm grew × ({NUMBER})"
    )
    if growth:
        first, last, norm = (float(growth[0][i]) for i in (1, 2, 3))
        claim(
            1 < last / first < norm,
            "exercise 4",
            "the threshold grows too, but slower than the norm",
            growth[0][0],
        )
        claim(
            abs(math.log(last / first) / math.log(1.05) - 20) < 1.5,
            "exercise 4",
            "it is about the norm of step 20 of 200",
            growth[0][0],
        )
    else:
        broken.append("05 exercise 4: the growing history's thresholds are not printed")
    return broken
