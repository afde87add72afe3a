"""The claims notebook 03's prose makes, checked against its executed outputs (``tests/test_claims.py``).

``check(outputs)`` takes the text outputs of the executed notebook (stdout and ``text/plain``, one output after
another, joined by newlines) and returns one message per claim the printed numbers no longer carry (empty when all
hold): the section, the claim, the prose it stands for, and what was printed. Sections 2, 4 and 5 measure a real
model's gradients on Fashion-MNIST images, so their numbers change with the data (the 800-image subset in CI, 60,000
images for a learner); the claims checked there are the ones the prose makes for both.
"""

from __future__ import annotations

import re

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"


def _all(outputs: str, pattern: str) -> list[re.Match]:
    return list(re.finditer(pattern, outputs, re.MULTILINE))


def _losses(outputs: str, name: str) -> list[float]:
    """The printed array of a cliff run's losses (it spans several lines)."""
    match = re.search(
        rf"^{name} run: the loss at the start and after each update\n\[([^\]]*)\]",
        outputs,
        re.MULTILINE,
    )
    return [float(v) for v in match[1].split()] if match else []


def check(outputs: str) -> list[str]:
    broken: list[str] = []

    def claim(ok: bool, where: str, what: str, prose: str, printed) -> None:
        if not ok:
            broken.append(f"03 {where}: {what} (prose: {prose!r}); printed: {printed}")

    def missing(where: str, what: str) -> None:
        broken.append(f"03 {where}: no printed line for {what}")

    # §1: norm clipping keeps the direction and sets the length to c; value clipping turns the vector
    vectors = {
        m[1]: (float(m[2]), float(m[3]))
        for m in _all(
            outputs,
            rf"^\s*(raw g|norm-clipped|value-clipped):.*length ({NUMBER})\s+angle to g\s+({NUMBER})°",
        )
    }
    if len(vectors) == 3:
        claim(
            vectors["norm-clipped"] == (1.0, 0.0) and vectors["value-clipped"][1] > 1,
            "§1",
            "norm-clipped: length 1.000 at angle 0; value-clipped turned by > 1°",
            "Norm clipping kept the direction and set the length to c ... Value clipping ... turned",
            f"{vectors}",
        )
    else:
        missing("§1", "the three 2-D vectors")

    # §2: what each Keras rule does to the full gradient (angles in float64)
    table = _all(
        outputs,
        rf"^(clipnorm|global_clipnorm|clipvalue)=({NUMBER})\s+({NUMBER})\s+({NUMBER})°\s+({NUMBER})\s+({NUMBER})%",
    )
    rules = {}
    for m in table:
        rules.setdefault(m[1], []).append(
            (float(m[3]), float(m[4]), float(m[6]))
        )  # cosine, angle, % changed
    if len(rules.get("clipvalue", [])) == 2 and "clipnorm" in rules and "global_clipnorm" in rules:
        (g_cos, g_angle, _), (n_cos, _, _) = rules["global_clipnorm"][0], rules["clipnorm"][0]
        claim(
            g_cos == 1.0 and g_angle == 0.0,
            "§2",
            "global_clipnorm: cosine 1.00000 and angle 0.00°",
            "global_clipnorm keeps the direction (cosine 1)",
            f"{rules['global_clipnorm']}",
        )
        claim(
            n_cos < 0.999,
            "§2",
            "clipnorm: cosine < 0.999",
            "the full gradient turns (cosine below 1)",
            n_cos,
        )
        same_c, entry_c = rules["clipvalue"]
        claim(
            same_c[2] < 5 and same_c[1] == 0.0,
            "§2",
            "clipvalue with the same c changes < 5% of the entries, and a clip that changes none turns by 0.00°",
            "clipvalue with the same number c changes few or no entries",
            f"{same_c}",
        )
        claim(
            entry_c[2] > 0 and entry_c[1] > 1,
            "§2",
            "clipvalue at the 90th percentile of |g_i| changes entries and turns the gradient by > 1°",
            "With a threshold in entry units it changes entries and turns the gradient",
            f"{entry_c}",
        )
    else:
        missing("§2", "the table of the four rules")

    # §2: Keras does exactly this; a threshold of 0 is silently "off"
    keras = _all(
        outputs,
        rf"^(\w+)\s+max \|Keras − our lines\| = ({NUMBER})\s+max \|Keras − helpers.clipping\| = ({NUMBER})",
    )
    zeros = _all(
        outputs, rf"^(\w+)=0: update norm ({NUMBER}), max \|difference to unclipped\| = ({NUMBER})"
    )
    if len(keras) == 3 and len(zeros) == 3:
        claim(
            all(float(m[2]) < 1e-6 and float(m[3]) == 0 for m in keras),
            "§2",
            "Keras = our lines to < 1e-6 and = helpers.clipping exactly",
            "Does Keras really do this?",
            [m[0] for m in keras],
        )
        claim(
            all(float(m[3]) == 0 for m in zeros),
            "§2",
            "a threshold of 0 leaves the update exactly unclipped",
            "a threshold of 0 is silently 'no clipping'",
            [m[0] for m in zeros],
        )
    else:
        missing("§2", "the Keras comparison and the threshold-0 check")
    refused = _all(
        outputs, r"^helpers.clipping refuses it: threshold must be a positive finite number"
    )
    claim(
        bool(refused),
        "§2",
        "helpers.clipping raises for 0",
        "helpers.clipping raises a ValueError for 0",
        "-",
    )
    broken_rules = {
        m[1]: m[2]
        for m in _all(outputs, r"^\s*(value|norm|global_norm): (\[.*\])\s+pre-clip norm inf")
    }
    claim(
        len(broken_rules) == 3
        and "nan" not in broken_rules.get("value", "nan")
        and broken_rules.get("global_norm", "").count("nan") == 5,
        "§2",
        "value clipping maps inf to c; global clipping makes all five entries NaN; every pre-clip norm is inf",
        "Value clipping maps inf to c ... global clipping turns everything into NaN",
        f"{broken_rules}",
    )

    by_tf = _all(outputs, r"^tf.clip_by_global_norm: every entry NaN: (True|False)")
    claim(
        bool(by_tf) and by_tf[0][1] == "True",
        "§2",
        "tf.clip_by_global_norm also turns every entry NaN",
        "global clipping turns everything into NaN, exactly as tf.clip_by_global_norm does",
        by_tf[0][0] if by_tf else "-",
    )

    # §3: the cliff: both runs cross the wall; unclipped ends above its start, clipped below and descending
    start = _all(outputs, rf"^start \(w, b\) = .*, loss ({NUMBER})")
    wall = _all(
        outputs, rf"^‖∇L‖ where update (\d+) starts: ({NUMBER}) \(threshold c = ({NUMBER})\)"
    )
    free, safe = _losses(outputs, "unclipped"), _losses(outputs, "clipped")
    blocks = re.split(
        r"^clipped run:", outputs, flags=re.MULTILINE
    )  # [... unclipped run, clipped run ...]
    jumps = {
        name: [int(m[1]) for m in _all(block, r"^\s+update (\d+): loss")]
        for name, block in zip(("unclipped", "clipped"), blocks[-2:] if len(blocks) == 2 else [])
    }
    lengths = _all(outputs, r"^unclipped: lengths of updates \d+…\d+: \[(.*)\]")
    if start and wall and len(free) == len(safe) > 1 and lengths:
        update, norm, c = int(wall[0][1]), float(wall[0][2]), float(wall[0][3])
        crossings = {name: [k for k in ks if k < update] for name, ks in jumps.items()}
        claim(
            free[:update] == safe[:update] and len(crossings) == 2 and all(crossings.values()),
            "§3",
            "both runs have the same losses before the wall update, and both jump by > 0.1 before it",
            "Both runs take the same first updates ... both cross the wall",
            f"jumps {jumps}, wall update {update}",
        )
        claim(
            norm > 100 * c,
            "§3",
            "the gradient at the wall is > 100 c",
            "the gradient is huge",
            f"{norm} vs c = {c}",
        )
        claim(
            free[-1] > free[0] and float(lengths[0][1].split()[-1]) == 0.0,
            "§3",
            "the unclipped run ends above its start loss, with zero-length steps after the jump",
            "a far plateau where the gradient is zero ... at a loss above its start",
            f"start {free[0]}, end {free[-1]}; lengths [{lengths[0][1]}]",
        )
        tail = safe[update:]
        claim(
            safe[-1] < safe[0] and tail == sorted(tail, reverse=True),
            "§3",
            "the clipped run descends after the wall and ends below its start loss",
            "the run stays near the wall, keeps descending and ends below its start",
            f"start {safe[0]}, after the wall {tail}",
        )
    else:
        missing("§3", "the start loss, the gradient at the wall and both runs' losses")

    # §4: the bias of clipping
    bias = [
        tuple(float(m[i]) for i in (1, 2, 3, 4, 5))
        for m in _all(outputs, rf"^\s+(\d+)\s+({NUMBER})\s+(\d+)%\s+({NUMBER})\s+({NUMBER})°\s*$")
    ]  # percentile, c, % clipped, length ratio, angle
    split = _all(
        outputs, rf"along E g ({NUMBER})·‖E g‖ \(a shrink\), across it ({NUMBER})·‖E g‖ \(a turn\)"
    )
    if len(bias) == 6 and split:
        q, _, clipped, ratio, turn = zip(*bias)
        claim(
            all(abs(f - (100 - p)) <= 5 for p, f in zip(q, clipped)),
            "§4",
            "the % of steps clipped is 100 minus the percentile (within 5)",
            "a threshold is a percentile of the norm distribution",
            f"{dict(zip(q, clipped))}",
        )
        claim(
            all(r < 1 for r, f in zip(ratio, clipped) if f > 0)
            and all(t > 0 for t, f in zip(turn, clipped) if f > 0),
            "§4",
            "wherever steps are clipped, the clipped mean is shorter (ratio < 1) and turned (angle > 0)",
            "The clipped mean is shorter than the mean gradient and points in a slightly different direction",
            f"ratios {ratio}, angles {turn}",
        )
        along, across = float(split[0][1]), float(split[0][2])
        claim(
            along < 0 and abs(along) > 3 * across,
            "§4",
            "at the lowest threshold the shrink is > 3x the turn",
            "At the lowest threshold most of the bias is a shrink",
            f"along {along}, across {across}",
        )
        high, low = dict(zip(q, zip(ratio, turn)))[90], (ratio[0], turn[0])
        claim(
            high[0] > 0.95 and high[1] < low[1] / 2,
            "§4",
            "at the 90th percentile: ratio > 0.95 and an angle below half the angle at the 10th",
            "the ratio stays near 1 and the angle is a fraction of the angle at the lowest threshold",
            f"90th {high}, 10th {low}",
        )
        claim(
            clipped[0] >= 85,
            "§4",
            "the lowest threshold clips >= 85% of the steps",
            "A threshold below the typical norm clips nearly every step",
            clipped[0],
        )
    else:
        missing("§4", "the bias table and the shrink/turn split")

    # §5: per-layer thresholds: the loud layer decides the quiet one's step under global clipping
    layers = {m[1]: float(m[2]) for m in _all(outputs, rf"^\s*(\w+): median norm ({NUMBER}), max")}
    shares = {
        m[1]: (float(m[2]), float(m[3]), float(m[4]))
        for m in _all(outputs, r"^\s*(\w+)\s+(\d+)%\s+(\d+)%\s+(\d+)%\s*$")
    }
    if len(layers) == 2 and len(shares) == 2:
        quiet = min(layers, key=layers.get)
        claim(
            shares[quiet][2] > 0,
            "§5",
            "global clipping shortens the quieter layer in some steps only because of the other layer",
            "one global threshold lets the loud layer decide the step of every other layer",
            f"medians {layers}, shares {shares}",
        )
    else:
        missing("§5", "the layer norms and the shares of shortened steps")

    # Exercises
    scalars = _all(outputs, r"^(clipnorm|clipvalue):\s+(\[.*\])")
    claim(
        len(scalars) == 2 and scalars[0][2] == scalars[1][2],
        "exercise 1",
        "clipnorm and clipvalue give the same scalars",
        "With scalar variables, clipnorm and clipvalue are the same rule",
        [m[0] for m in scalars],
    )
    turn = _all(outputs, rf"^largest turn ({NUMBER})° at θ = ({NUMBER})°")
    claim(
        bool(turn) and 44.5 < float(turn[0][1]) <= 45,
        "exercise 2",
        "the largest turn approaches 45°",
        "approaches 45° as theta -> 0",
        turn[0][0] if turn else "-",
    )
    rows = _all(
        outputs,
        rf"^\s+({NUMBER})\s+({NUMBER})\s+(True|False)\s+({NUMBER})\s+\(({NUMBER}), ({NUMBER})\)\s+({NUMBER})",
    )
    start_loss = _all(
        outputs, rf"^start loss ({NUMBER}); ‖∇L‖ at the wall \(update \d+\): ({NUMBER})"
    )
    same = _all(outputs, r"^c = 1000 gives exactly the unclipped run: (True|False)")
    if len(rows) == 5 and start_loss and same:
        s, wall_norm = float(start_loss[0][1]), float(start_loss[0][2])
        table = {float(m[1]): (float(m[2]), m[3] == "True", float(m[4]), float(m[7])) for m in rows}
        claim(
            all(step <= eta_c * (1 + 1e-9) for eta_c, _, step, _ in table.values()),
            "exercise 3",
            "every longest step is at most eta*c",
            "A clipped step is at most eta c long",
            f"{table}",
        )
        claim(
            all(cut == (c < wall_norm) for c, (_, cut, _, _) in table.items()),
            "exercise 3",
            "the clip acts at the wall exactly for the c below the wall's gradient norm",
            "The clip acts at the wall for every c below the wall's gradient norm",
            f"{table}",
        )
        below = [c for c, (*_, end) in table.items() if end < s]
        claim(
            below == [min(table)],
            "exercise 3",
            "only the smallest c ends below the start loss",
            "only the smallest threshold ends below the start loss",
            f"start {s}, {table}",
        )
        claim(
            table[10.0][1] and table[100.0][1] and table[10.0][3] > s and table[100.0][3] > s,
            "exercise 3",
            "at c = 10 and 100 the clip acts and the run still ends above its start",
            "with c = 10 or 100 it is thrown far away although the clip acted",
            f"{table[10.0]}, {table[100.0]}",
        )
        claim(
            not table[1000.0][1] and same[0][1] == "True",
            "exercise 3",
            "c = 1000 does not clip and is the unclipped run",
            "the clip does not act at all and the run is the unclipped one",
            f"{table[1000.0]}, same: {same[0][1]}",
        )
    else:
        missing("exercise 3", "the five thresholds, the start loss and the c = 1000 check")
    angles = {
        m[1]: float(m[2])
        for m in _all(
            outputs,
            rf"^\s*(global|per-tensor) clipping at c = {NUMBER}: angle to E g = ({NUMBER})°",
        )
    }
    claim(
        len(angles) == 2 and angles["per-tensor"] > 3 * angles["global"],
        "exercise 4",
        "per-tensor clipping turns the mean update > 3x as far as global clipping",
        "per-tensor clipping turns the mean update many times further than global clipping",
        f"{angles}",
    )
    return broken
