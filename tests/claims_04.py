"""The claims notebook 04's prose makes, checked against its executed outputs (``tests/test_claims.py``).

``check(outputs)`` takes the text the executed notebook printed and returns one message per claim the numbers no
longer carry. Claims whose outcome could change with the data or the machine (which method is best, whose range is
wider) are printed as verdicts and not claimed in the prose, so they are not checked here; what is checked are the
sentences the prose states as facts of this notebook's runs.
"""

from __future__ import annotations

import re

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"


def check(outputs: str) -> list[str]:
    broken: list[str] = []

    def claim(ok: bool, where: str, prose: str, printed) -> None:
        if not ok:
            broken.append(f"04 {where}: {prose!r} is not carried by the printed numbers: {printed}")

    def find(pattern: str) -> list[re.Match]:
        return list(re.finditer(pattern, outputs, re.MULTILINE))

    # §1: the trainer runs the loop written by hand
    gap = find(rf"the loop by hand vs train_seeds, same 3 steps: max \|difference\| ({NUMBER})")
    claim(
        len(gap) == 1 and float(gap[0][1]) <= 1e-6,
        "§1",
        "helpers.training.train runs exactly this loop",
        [m[0] for m in gap],
    )

    # §1: under the article's optimizer the rules (almost) never clip, and a run changes only where its rule clipped
    counts = find(r"^(.*?): clipped (\d+) of (\d+) steps, in seeds")
    claim(
        len(counts) == 3 and all(int(m[2]) <= 0.01 * int(m[3]) for m in counts),
        "§1",
        "with plain SGD at learning rate 0.01 ... a rule that (almost) never fires",
        [m[0] for m in counts],
    )
    explained = find(r"every seed that differs is a seed where the rule clipped: (True|False)")
    claim(
        len(explained) == 1 and explained[0][1] == "True",
        "§1",
        "the seeds that differ are the seeds where it clipped",
        [m[0] for m in explained],
    )

    # §1: a clip that does not fire changes entries by one rounding step
    changes = find(rf"^c = +({NUMBER}): +(\d+) of (\d+) entries changed, largest change ({NUMBER})")
    claim(
        len(changes) == 3 and all(float(m[4]) <= 1e-6 for m in changes),
        "§1",
        "changes of one rounding step (about 1e-7 of the entry)",
        [m[0] for m in changes],
    )

    # §2: at c = 0.1 the norm rules clip (nearly) every step
    fractions = {
        m[1].strip(): float(m[2])
        for m in find(rf"^(.+?) clipped +({NUMBER})% of the steps \(mean over")
    }
    norm_rules = [fractions.get("per-tensor norm ≤ 0.1"), fractions.get("global norm ≤ 0.1")]
    claim(
        None not in norm_rules and min(norm_rules) >= 95,
        "§2",
        "at c = 0.1 the norm rules clip (nearly) every step",
        fractions,
    )

    # §3: the sweep's two thresholds, and normalised SGD's curve at larger learning rates
    rows = {
        m[1].strip(): (float(m[2]), float(m[3]))
        for m in find(
            rf"^(no clipping|global norm ≤ 0\.1|global norm ≤ 1) +\| ({NUMBER}) +\| .*?\| ({NUMBER})% +\|"
        )
    }
    if len(rows) == 3:
        claim(
            rows["global norm ≤ 0.1"][1] >= 95,
            "§3",
            "global norm ≤ 0.1 ... clips (nearly) every step",
            rows,
        )
        claim(
            rows["global norm ≤ 1"][1] <= 10,
            "§3",
            "global norm ≤ 1 ... clips only the rare large steps",
            rows,
        )
        claim(
            rows["global norm ≤ 0.1"][0] > rows["no clipping"][0],
            "§3",
            "normalised SGD's ... whole curve sits at larger learning rates",
            rows,
        )
    else:
        broken.append(f"04 §3: the sweep's table (three methods) is not printed: {rows}")

    # §4: chaos — the stable runs stay together, the unstable ones part
    chaos = {
        (m[1], m[2].strip()): m[3]
        for m in find(
            r"^(unstable|stable) +(one ulp|clip at 100) *: losses first differ at step \S+, by > 0\.1 nats "
            r"from step (\S+);"
        )
    }
    claim(
        len(chaos) == 4
        and all(chaos[(r, w)] == "never" for r, w in chaos if r == "stable")
        and all(chaos[(r, w)] != "never" for r, w in chaos if r == "unstable"),
        "§4",
        "in the stable regime the two runs stay together ... in the unstable regime it is amplified",
        chaos,
    )
    never = find(rf"the clip at c = 100 clipped ({NUMBER})% of the steps")
    claim(
        len(never) == 1 and float(never[0][1]) == 0,
        "§4",
        "a clip that never fires",
        [m[0] for m in never],
    )

    # §6: below the median norm a threshold clips (nearly) every step, far above it rarely
    median = find(rf"median pre-clip global norm without clipping at lr 1: ({NUMBER})")
    table = {
        (m[1], float(m[2])): float(m[3])
        for m in find(rf"^(value|global norm) +({NUMBER}) +{NUMBER} ± {NUMBER} +({NUMBER})%")
    }
    if median and len(table) == 10:
        typical = float(median[0][1])
        below = [v for (rule, c), v in table.items() if rule == "global norm" and c < typical / 3]
        above = [v for (rule, c), v in table.items() if rule == "global norm" and c > 3 * typical]
        claim(
            below and above and min(below) >= 95 and max(above) <= 5,
            "§6",
            "a threshold below it clips (nearly) every step ... far above it clips rarely",
            (typical, table),
        )
    else:
        broken.append(f"04 §6: the threshold table or the median norm is not printed: {table}")

    # §7: at learning rate 1e37 every run hits NaN/inf within a few steps, clipped or not
    steps = [
        [int(s) for s in m[2].split(",")]
        for m in find(r"^(.+?lr=1e\+37) +NaN/inf at step \[([\d, ]+)\]")
    ]
    claim(
        len(steps) == 4 and max(max(s) for s in steps) <= 10,
        "§7",
        "NaN comes within a few steps — for SGD and for Adam, with and without global-norm clipping",
        steps,
    )

    # exercise 3: a constant factor leaves Adam's first step; a clipped spike changes the steps after it
    first = [
        [float(v) for v in m[1].split()]
        for m in find(r"\(a\) gradient x [\d.]+: Keras step \[([^\]]*)\]")
    ]
    claim(
        len(first) == 2 and all(abs(abs(step[i]) - 0.01) < 1e-5 for step in first for i in (0, 1)),
        "exercise 3",
        "where |g| >> eps_hat the first step is lr * sign(g) at both scales",
        first,
    )
    spike = find(r"\(b\) the 2 steps after the spike: \[([^\]]*)\] with it, \[([^\]]*)\] clipped")
    if spike:
        kept, clipped = ([float(v) for v in spike[0][i].split()] for i in (1, 2))
        claim(
            all(a < 0.9 * b for a, b in zip(kept, clipped)),
            "exercise 3",
            "the spike stays in v, so the later steps shrink; clipped, they do not",
            spike[0][0],
        )
    else:
        broken.append("04 exercise 3: the steps after the spike are not printed")
    return broken
