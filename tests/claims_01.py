"""The claims notebook 01's prose makes, checked against its executed outputs (``tests/test_claims.py``).

``check(outputs)`` takes the concatenated text outputs of the executed notebook and returns one message per
claim that the printed numbers no longer carry (empty when all hold). Each message names the section, the claim,
the prose it stands for, and what was printed.
"""

from __future__ import annotations

import re

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|[-+]?inf|nan"


def _lines(outputs: str, pattern: str) -> list[re.Match]:
    return list(re.finditer(pattern, outputs, re.MULTILINE))


def _f(text: str) -> float:
    return float(text)


def check(outputs: str) -> list[str]:
    broken: list[str] = []

    def claim(ok: bool, where: str, what: str, prose: str, printed: str) -> None:
        if not ok:
            broken.append(f"01 {where}: {what} (prose: {prose!r}); printed: {printed}")

    def missing(where: str, what: str) -> None:
        broken.append(f"01 {where}: no printed line for {what}")

    # §1: w = 0.9 and w = 1.1 change the factor by orders of magnitude, down and up
    powers = {
        _f(m[1]): _f(m[2])
        for m in _lines(outputs, rf"^w = ({NUMBER}):\s+dh_T/dh_0 = w\^100 = ({NUMBER})")
    }
    if {0.9, 1.1} <= powers.keys():
        claim(
            powers[0.9] < 1e-3 and powers[1.1] > 1e3,
            "§1",
            "w^100 < 1e-3 at w = 0.9 and > 1e3 at w = 1.1",
            "changes the gradient ... by orders of magnitude — down or up",
            f"{powers}",
        )
    else:
        missing("§1", "w^100 at w = 0.9 and 1.1")

    # §2: orthogonal powers follow rho^k exactly; a Gaussian matrix can grow for a while at rho < 1
    rows = _lines(
        outputs,
        rf"^rho = ({NUMBER}):\s+\|\|W\^100\|\| orthogonal = ({NUMBER}) \(largest gap to rho\^k "
        rf"({NUMBER})\).*\(peak ({NUMBER}) at k = (\d+)\)",
    )
    if len(rows) == 3:
        gaps = [_f(m[3]) for m in rows]
        claim(
            max(gaps) < 1e-9,
            "§2",
            "orthogonal ||W^k|| equals rho^k to < 1e-9",
            "The orthogonal matrices follow rho^k exactly",
            f"gaps {gaps}",
        )
        peak = {_f(m[1]): _f(m[4]) for m in rows}
        claim(
            peak.get(0.9, 0) > 1,
            "§2",
            "the Gaussian matrix at rho = 0.9 peaks above 1",
            "can grow for a while even when rho<1 — the printed peak",
            f"peaks {peak}",
        )
    else:
        missing("§2", "||W^100|| for rho = 0.9, 1.0, 1.1")

    # §2: Pascanu et al.'s conditions, table of ||dh_T/dh_0|| at input scales 1 and 0.1
    table = _lines(
        outputs,
        rf"^\s*(linear|tanh|sigmoid)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s*$",
    )
    if len(table) == 9:
        below = [(m[1], m[3], _f(m[5]), _f(m[6])) for m in table if _f(m[3]) < _f(m[4])]
        claim(
            bool(below) and all(a < 1e-3 and b < 1e-3 for *_, a, b in below),
            "§2",
            "every row with lambda_1 < 1/gamma ends below 1e-3 at both input scales",
            "every row with lambda_1 < 1/gamma vanishes, as guaranteed, for both input scales",
            f"{below}",
        )
        sigmoid3 = [m for m in table if m[1] == "sigmoid" and _f(m[3]) == 3.0]
        claim(
            bool(sigmoid3) and max(_f(sigmoid3[0][5]), _f(sigmoid3[0][6])) < 1e-3,
            "§2",
            "the sigmoid at lambda_1 = 3 vanishes",
            "the sigmoid even at lambda_1 = 3",
            f"{sigmoid3[:1]}",
        )
        tanh15 = [m for m in table if m[1] == "tanh" and _f(m[3]) == 1.5]
        ok = bool(tanh15) and _f(tanh15[0][5]) < 1 < _f(tanh15[0][6])
        claim(
            ok,
            "§2",
            "tanh at lambda_1 = 1.5 shrinks at s = 1 and grows at s = 0.1",
            "for tanh the input scale decides: compare the two columns",
            f"{[m[0] for m in tanh15]}",
        )
    else:
        missing("§2", "the 9-row table of the conditions")

    # §2, tanh at lambda_1 = 1.5: the state saturates by itself; small inputs grow slowly, large ones vanish
    linear = _lines(
        outputs, rf"^linear, the same W: \|\|dh_T/dh_0\|\| = ({NUMBER}), ({NUMBER}) per step"
    )
    scales = _lines(
        outputs,
        rf"^\s*({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})"
        r"\s+\[(\d+), (\d+), (\d+)\]\s*$",
    )
    if linear and len(scales) == 6:
        rows = {
            _f(m[1]): (
                [_f(m[i]) for i in (2, 3, 4)],
                _f(m[5]),
                _f(m[6]),
                [int(m[i]) for i in (7, 8, 9)],
            )
            for m in scales
        }
        small = [s for s in rows if s <= 0.1]
        late = [rows[s][2] for s in small]
        claim(
            max(late) - min(late) < 0.05 and max(late) < 0.8,
            "§2 tanh",
            "mean tanh' after step 50 within 0.05 across s <= 0.1 and below 0.8",
            "the mean tanh' after step 50 is about the same for every small scale, and well below 1",
            f"{dict(zip(small, late))}",
        )
        firsts = [max(rows[s][3]) for s in sorted(rows)]
        claim(
            all(1 <= f <= 100 for s in rows for f in rows[s][3]),
            "§2 tanh",
            "every run reaches |h_t| > 0.9 within T steps",
            "every run reaches a unit with |h_t| > 0.9",
            f"{ {s: rows[s][3] for s in rows} }",
        )
        claim(
            firsts == sorted(firsts, reverse=True) and firsts[0] > firsts[-1],
            "§2 tanh",
            "the first saturated step comes later for smaller inputs",
            "later for smaller inputs",
            f"{dict(zip(sorted(rows), firsts))}",
        )
        growing, linear_factor = {s: rows[s][1] for s in rows if s <= 0.3}, _f(linear[0][2])
        claim(
            all(1 < f < 1 + (linear_factor - 1) * 0.6 for f in growing.values()),
            "§2 tanh",
            f"with s <= 0.3 the factor per step is above 1 and well below the linear {linear_factor}",
            "with small inputs the product still grows, but by a factor per step far below the linear 1.5",
            f"{growing}",
        )
        claim(
            all(rows[s][1] < 1 for s in rows if s >= 1.0),
            "§2 tanh",
            "with s >= 1 the factor per step is below 1",
            "Larger inputs ... the product vanishes",
            f"{ {s: rows[s][1] for s in rows if s >= 1} }",
        )
        deep = [rows[s][2] for s in sorted(rows) if s >= 0.3]
        claim(
            deep == sorted(deep, reverse=True),
            "§2 tanh",
            "mean tanh' falls from s = 0.3 to 1 to 3",
            "Larger inputs push the units deeper into saturation: tanh' falls further",
            f"{deep}",
        )
    else:
        missing("§2 tanh", "the linear reference and the six input scales")

    # §3: a finite but enormous first gradient, then inf, then w = inf, then NaN one step later each
    step0 = _lines(outputs, rf"^\s+0\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s*$")
    steps = {
        name: int(m[1])
        for name, pattern in (
            ("h_T inf", r"first step whose h_T is inf:\s+(\d+)"),
            ("w inf", r"first step that starts from w = inf:\s+(\d+)"),
            ("w NaN", r"first step that starts from w = NaN:\s+(\d+)"),
        )
        for m in _lines(outputs, pattern)
    }
    if step0 and len(steps) == 3:
        grad = _f(step0[0][4])
        claim(
            1e5 < grad < float("inf"),
            "§3",
            "the first gradient is finite and above 1e5",
            "The first gradient is finite but enormous",
            f"dL/dw = {grad}",
        )
        claim(
            steps["h_T inf"] < steps["w inf"] < steps["w NaN"] == steps["w inf"] + 1,
            "§3",
            "h_T overflows first, then w becomes inf, and NaN follows one step after w = inf",
            "At the next step w^30 overflows ... makes w itself inf. At the step after that ... NaN",
            f"{steps}",
        )
    else:
        missing("§3", "the training rows and the inf/NaN steps")

    # §4: the wall's gradient is orders of magnitude above the median; the grid only gives a lower bound
    median = _lines(outputs, rf"^median gradient norm on the grid: ({NUMBER})")
    largest = _lines(outputs, rf"^largest on the grid .*: ({NUMBER}) at w")
    wall = _lines(
        outputs,
        rf"^\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s*$",
    )
    wall = [
        m for m in wall if _f(m[1]) < 0 and "e" in m[4]
    ]  # rows of the wall table: b < 0, spacing like 1.8e-15
    if median and largest and len(wall) >= 5:
        grid = _f(largest[0][1])
        claim(
            grid > 100 * _f(median[0][1]),
            "§4",
            "the grid's largest gradient is > 100x its median",
            "there the gradient is orders of magnitude above the median",
            f"{grid} vs {median[0][1]}",
        )
        by_b = sorted(
            (_f(m[1]), _f(m[3]), _f(m[6])) for m in wall
        )  # (b, largest ||grad||, distance to line)
        claim(
            by_b[0][1] > 1e10 * by_b[-1][1],
            "§4",
            "the wall's gradient at the most negative b is > 1e10x that at the largest b",
            "grows by orders of magnitude toward negative b",
            f"{by_b[0][1]} vs {by_b[-1][1]}",
        )
        claim(
            max(p for _, p, _ in by_b) > 1e6 * grid,
            "§4",
            "the wall's largest gradient is > 1e6x the grid's",
            "the grid's maximum was nowhere near the largest value",
            f"{max(p for _, p, _ in by_b)} vs {grid}",
        )
        distances = [d for *_, d in by_b]
        claim(
            max(distances) < 0.05 and distances.index(max(distances)) == len(distances) - 1,
            "§4",
            "all distances to the fitted line < 0.05, the largest at the upper end of b",
            "almost straight ... farthest near its upper end",
            f"{distances}",
        )
        drops = sorted((_f(m[1]), _f(m[5])) for m in wall)  # (b, loss drop between neighbours)
        claim(
            drops[-1][1] < 1e-6 * drops[0][1],
            "§4",
            "the loss drop at the largest b is < 1e-6 of that at the most negative b",
            "farthest near its upper end, where it fades out",
            f"{drops[-1]} vs {drops[0]}",
        )
    else:
        missing("§4", "the grid's median and largest gradient and the wall table")

    # §5: clipping caps the exploding gradient and leaves the vanished one bit for bit
    clip = {
        _f(m[1]): (_f(m[2]), _f(m[3]), m[4])
        for m in _lines(
            outputs,
            rf"^rho = ({NUMBER}): norm before clipping ({NUMBER}), after clipping at 1\.0: ({NUMBER}), "
            r"returned unchanged: (True|False)",
        )
    }
    if {0.9, 1.1} <= clip.keys():
        claim(
            clip[0.9][0] < 1 and clip[0.9][2] == "True",
            "§5",
            "the vanished gradient is returned unchanged",
            "leaves the vanished one exactly as small as it was",
            f"{clip[0.9]}",
        )
        claim(
            clip[1.1][0] > 1 and clip[1.1][1] == 1.0,
            "§5",
            "the exploding gradient is capped at 1",
            "Clipping caps the exploding gradient at the threshold",
            f"{clip[1.1]}",
        )
    else:
        missing("§5", "the clipping check at rho = 0.9 and 1.1")

    # Exercise 2: lambda_1 = 3.9 < 4 vanishes for the sigmoid at both input scales
    sigmoid = [_f(m[1]) for m in _lines(outputs, rf"^lambda_1 = 3\.9, input scale .*= ({NUMBER})")]
    if len(sigmoid) == 2:
        claim(
            max(sigmoid) < 1e-6,
            "exercise 2",
            "the sigmoid at lambda_1 = 3.9 ends below 1e-6 at both scales",
            "lambda_1 < 1/gamma = 4 is sufficient for vanishing, whatever the inputs",
            f"{sigmoid}",
        )
    else:
        missing("exercise 2", "the two sigmoid norms")

    # Exercise 3: 1e-4 still ends in NaN; the runs that stay finite end far from the target h_T = 2
    runs = {m[1]: m[2] for m in _lines(outputs, r"^lr (\de-\d+): first update .*?; (.*)$")}
    finite = {
        lr: _f(m[1]) for lr, end in runs.items() if (m := re.search(rf"h_T = ({NUMBER})$", end))
    }
    if "1e-04" in runs:
        claim(
            runs["1e-04"].endswith("w = nan after 50"),
            "exercise 3",
            "lr 1e-4 ends with w = NaN after 50 updates",
            "with 1e-4 the run still ends in NaN",
            runs["1e-04"],
        )
        claim(
            bool(finite) and all(abs(h - 2) > 1 for h in finite.values()),
            "exercise 3",
            "every finite run ends with |h_T - 2| > 1",
            "their h_T far from 2",
            f"{finite}",
        )
    else:
        missing("exercise 3", "the learning-rate rows")
    return broken
