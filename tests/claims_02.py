"""The claims notebook 02's prose makes, checked against its executed outputs (``tests/test_claims.py``).

``check(outputs)`` takes the text outputs of the executed notebook (stdout and ``text/plain``, one output after
another, joined by newlines) and returns one message per claim the printed numbers no longer carry (empty when all
hold): the section, the claim, the prose it stands for, and what was printed.
"""

from __future__ import annotations

import re

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"


def _all(outputs: str, pattern: str) -> list[re.Match]:
    return list(re.finditer(pattern, outputs, re.MULTILINE))


def check(outputs: str) -> list[str]:
    broken: list[str] = []

    def claim(ok: bool, where: str, what: str, prose: str, printed) -> None:
        if not ok:
            broken.append(f"02 {where}: {what} (prose: {prose!r}); printed: {printed}")

    def missing(where: str, what: str) -> None:
        broken.append(f"02 {where}: no printed line for {what}")

    # §1: the hand loop reproduces the layer, and the helper reproduces the hand loop
    same = _all(outputs, rf"^hand loop vs the Keras layer, largest difference in h_T: ({NUMBER})")
    agree = _all(
        outputs, rf"^helper vs hand loop, largest relative difference in ‖∂L/∂h_t‖: ({NUMBER})"
    )
    if same and agree:
        claim(
            float(same[0][1]) < 1e-12 and float(agree[0][1]) < 1e-12,
            "§1",
            "hand loop = Keras layer and helper = hand loop to < 1e-12",
            "the hand loop reproduces the layer's own output, and both measurements agree",
            f"{same[0][1]}, {agree[0][1]}",
        )
    else:
        missing("§1", "the two agreement checks")

    # §2: the linear case lies on rho^(T-t) to many digits
    linear = {
        float(m[1]): (float(m[2]), float(m[4]))
        for m in _all(outputs, rf"^({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s*$")
        if m[1] in ("0.8", "1.0", "1.2")
    }
    if len(linear) == 3:
        claim(
            max(gap for _, gap in linear.values()) < 1e-12,
            "§2",
            "the measured norms are on rho^(T-t) to < 1e-12",
            "the measured norms lie on the predicted line ... to many digits",
            f"{linear}",
        )
        claim(
            linear[0.8][0] < 1e-3 and linear[1.2][0] > 1e3,
            "§2",
            "at rho = 0.8 the far past is < 1e-3 of the end, at 1.2 > 1e3",
            "below 1 the far past vanishes, above 1 it explodes",
            f"{linear}",
        )
    else:
        missing("§2", "the three linear rows")

    # §4: tanh slows the growth (factor far below rho), mean tanh' falls, more units saturate
    drive = _all(outputs, rf"^input drive x_t·K \+ b: standard deviation ({NUMBER})")
    tanh = [
        tuple(float(m[i]) for i in (1, 2, 3, 4, 5))
        for m in _all(
            outputs, rf"^({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})%\s*$"
        )
    ]
    if drive and len(tanh) == 5:
        claim(
            float(drive[0][1]) < 0.5,
            "§4",
            "the input drive's sd < 0.5",
            "The input drive ... is small",
            drive[0][1],
        )
        rho, _, measured, prime, saturated = zip(*tanh)
        claim(
            list(measured) == sorted(measured)
            and all(f - 1 < (r - 1) / 2 for r, f in zip(rho, measured) if r > 1),
            "§4",
            "the tanh factor rises with rho, by less than half of rho's excess over 1",
            "the measured factor grows with rho far more slowly than the linear rho",
            f"{dict(zip(rho, measured))}",
        )
        claim(
            list(prime) == sorted(prime, reverse=True) and list(saturated) == sorted(saturated),
            "§4",
            "mean tanh' falls and the saturated share rises with rho",
            "as rho grows the mean tanh' drops and more units saturate",
            f"tanh' {prime}, saturated {saturated}",
        )
        claim(
            all(f > 1 for r, f in zip(rho, measured) if r >= 1.5)
            and all(f < r for r, f in zip(rho, measured) if r <= 1),
            "§4",
            "factor > 1 for rho >= 1.5 and below rho for rho <= 1",
            "it does not abolish it, and for rho <= 1 it adds to the vanishing",
            f"{dict(zip(rho, measured))}",
        )
    else:
        missing("§4", "the input drive and the five tanh rows")

    # §5: the LSTM's cell state: forget gates, the factors, their compounded totals and spreads
    probes = _all(outputs, rf"^probes vs helpers.gradients: largest relative difference ({NUMBER})")
    lstm = {
        (float(m[1]), float(m[2])): (float(m[3]), float(m[4]), float(m[6]))
        for m in _all(
            outputs,
            rf"^\s+(1|5)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s*$",
        )
    }  # (bias, rho) -> (mean f, factor of c_t, SimpleRNN's factor)
    totals = {
        float(m[1]): [float(m[i]) for i in (2, 3, 4)]
        for m in _all(
            outputs,
            rf"^\s+(1|5)\s+×({NUMBER})\s+×({NUMBER})\s+×({NUMBER})\s+({NUMBER}) \(({NUMBER}) of",
        )
    }
    shares = {
        float(m[1]): float(m[2])
        for m in _all(outputs, rf"^\s+(1|5)\s+×.*\(({NUMBER}) of the SimpleRNN's\)")
    }
    if probes and len(lstm) == 6 and len(totals) == 2 and len(shares) == 2:
        claim(
            float(probes[0][1]) < 1e-12,
            "§5",
            "probes = helper to < 1e-12",
            "the two must agree",
            probes[0][1],
        )
        claim(
            max(shares.values()) < 0.5,
            "§5",
            "the LSTM's spread over rho is < 0.5 of the SimpleRNN's at both forget biases",
            "the LSTM's factors move much less than the SimpleRNN's",
            f"{shares}",
        )
        default = [f for (bias, _), (f, _, _) in lstm.items() if bias == 1]
        opened = [f for (bias, _), (f, _, _) in lstm.items() if bias == 5]
        claim(
            max(default) < 0.8 and min(opened) > 0.95,
            "§5",
            "mean f < 0.8 with forget bias 1 and > 0.95 with bias 5",
            "the forget gates average well below 1 ... bias 5, mean f close to 1",
            f"bias 1 {default}, bias 5 {opened}",
        )
        cell5 = [lstm[5.0, r][1] for r in sorted(r for b, r in lstm if b == 5)]
        claim(
            min(cell5) > 1 and lstm[5.0, 0.8][2] < 1,
            "§5",
            "with bias 5 every cell-state factor > 1, also at rho = 0.8 where the SimpleRNN's is < 1",
            "the cell-state factor no longer falls below 1, even for rho < 1, where the SimpleRNN's gradient vanishes",
            f"LSTM c_t {cell5}, SimpleRNN at 0.8 {lstm[5.0, 0.8][2]}",
        )
        claim(
            cell5 == sorted(cell5) and cell5[0] < cell5[-1],
            "§5",
            "with bias 5 the cell-state factor rises with rho",
            "still make the gradient grow, the more the larger rho",
            f"{cell5}",
        )
        claim(
            min(totals[5.0]) > 10 and max(totals[5.0]) > 1e4,
            "§5",
            "with bias 5 the compounded factor over 99 steps is > 10 everywhere and > 1e4 at the largest rho",
            "It does not carry the gradient back unchanged ... from tens to more than ten thousand times",
            f"{totals[5.0]}",
        )
    else:
        missing("§5", "the probe check, the six LSTM rows, the compounded totals and the spreads")

    # §6: the adding problem: baseline, start-up transient, a few times the median later, learned
    baseline = _all(outputs, rf"^held-out loss of always predicting 1: ({NUMBER})")
    seeds = _all(
        outputs,
        rf"^\s+(\d)\s+({NUMBER})\s+\[([\d, ]*)\]\s+({NUMBER})× at step (\d+)\s+({NUMBER})\s+({NUMBER})\s*$",
    )
    late = _all(outputs, r"^seeds with a step > 10× the median after the start-up: (\d+) of (\d+)")
    replays = _all(
        outputs,
        rf"^\s+(\d)\s+(\d+)\s+({NUMBER})\s+({NUMBER})%\s+({NUMBER}) → ({NUMBER}) \| ({NUMBER})",
    )
    rose = _all(outputs, r"^the SGD step raised the held-out loss in (\d+) of (\d+) seeds")
    drift = _all(
        outputs, rf"^retrained vs logged held-out loss before the step: largest gap ({NUMBER})"
    )
    if baseline and seeds and late and replays and rose and drift:
        base = float(baseline[0][1])
        claim(
            abs(base - 1 / 6) < 0.05,
            "§6",
            "predicting 1 scores about 1/6",
            "scores ... 2/12 = 1/6",
            base,
        )
        early = [int(s) for m in seeds for s in m[3].split(",") if s.strip()]
        claim(
            all(s < 50 for s in early) and late[0][1] == "0",
            "§6",
            "every step above 10x the median is in the start-up (step < 50), none after",
            "The steps far above the median are among the first few ... a start-up transient",
            f"{early}; after the start-up {late[0][1]} of {late[0][2]}",
        )
        ratios = [float(m[4]) for m in seeds]
        claim(
            all(1 < r < 10 for r in ratios),
            "§6",
            "the largest norm after the start-up is 1-10x the median",
            "After the start-up the largest norm is a few times the median",
            f"{ratios}",
        )
        lows = [float(m[6]) for m in seeds]
        claim(
            all(low < base / 2 for low in lows),
            "§6",
            "every seed's lowest held-out loss is below half the baseline",
            "the held-out loss falls well below the baseline",
            f"{lows} vs {base}",
        )
        claim(
            float(drift[0][1]) < 1e-4,
            "§6",
            "the retrained weights reproduce the logged held-out loss before the step (gap < 1e-4)",
            "retrain the seed up to it (same seed, same batches: the same weights)",
            drift[0][1],
        )
        ends = {m[1]: float(m[7]) for m in seeds}
        steps = {
            m[1]: (float(m[3]), float(m[5]), float(m[6])) for m in replays
        }  # ratio, before, after
        claim(
            all(1 < r < 10 and before < 0.75 * base for r, before, _ in steps.values()),
            "§6",
            "each replayed step starts below 3/4 of the baseline with a norm 1-10x the median",
            "starts from a model that has learned a good part ... a few times the median",
            f"{steps}",
        )
        claim(
            rose[0][1] == rose[0][2] and all(after > before for _, before, after in steps.values()),
            "§6",
            "the SGD step raises the held-out loss in every seed",
            "the one unclipped step of that length raises the held-out loss",
            f"{steps}",
        )
        claim(
            all(ends[seed] < after for seed, (_, _, after) in steps.items()),
            "§6",
            "every seed ends below its loss after the replayed step",
            "By the end of training the loss has fallen again",
            f"ends {ends}, after {[a for *_, a in steps.values()]}",
        )
    else:
        missing("§6", "the baseline, the per-seed table, the replays and their counts")

    # Exercise 1: the measured ratio is the predicted rho^(T-1)
    predicted = _all(outputs, rf"^prediction rho\^\(T-1\) = ({NUMBER})")
    measured = _all(outputs, rf"^measured\s+= ({NUMBER})")
    if predicted and measured:
        p, m = float(predicted[0][1]), float(measured[0][1])
        claim(
            abs(m / p - 1) < 1e-6,
            "exercise 1",
            "measured = predicted to 1e-6",
            "predict, then measure",
            f"{p}, {m}",
        )
    else:
        missing("exercise 1", "the prediction and the measurement")

    # Exercise 2: the GRU is less sensitive to rho than the SimpleRNN, less markedly than the LSTM
    gru = _all(outputs, rf"as a fraction of the SimpleRNN's: GRU ({NUMBER}), LSTM c_t ({NUMBER})")
    if gru:
        g, lstm_share = float(gru[0][1]), float(gru[0][2])
        claim(
            g < 0.8 and lstm_share < 0.5 and g > 1.5 * lstm_share,
            "exercise 2",
            "GRU spread < 0.8 of the SimpleRNN's, LSTM's < 0.5, GRU's > 1.5x the LSTM's",
            "the GRU is less sensitive to rho, less markedly than the LSTM",
            f"GRU {g}, LSTM {lstm_share}",
        )
    else:
        missing("exercise 2", "the spreads of the GRU and the LSTM")

    # Exercise 3: half the learning rate: the same norms/median, smaller rises, no clear win at the end
    rows = _all(
        outputs, rf"^\s+(\d)\s+(lr|lr/2)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+(\d+|never)\s*$"
    )
    counts = _all(
        outputs,
        r"in (\d+), lower held-out loss at the end in (\d+), below ½ baseline sooner in (\d+)",
    )
    total = _all(outputs, r"^half the learning rate, out of (\d+) seeds")
    if rows and counts and total:
        n = int(total[0][1])
        smaller, lower, sooner = (int(counts[0][i]) for i in (1, 2, 3))
        ratio = {(m[1], m[2]): float(m[3]) for m in rows}
        moves = [abs(ratio[s, "lr/2"] - ratio[s, "lr"]) for s, lr in ratio if lr == "lr"]
        claim(
            max(moves) <= 1.0,
            "exercise 3",
            "the largest norm / median moves by at most 1 between lr and lr/2",
            "The norms relative to the median hardly move",
            f"{ratio}",
        )
        claim(
            smaller == n,
            "exercise 3",
            "smaller largest rise in every seed",
            "the largest rises ... shrink",
            smaller,
        )
        claim(
            lower < n and sooner < n,
            "exercise 3",
            "lr/2 neither ends lower nor reaches half the baseline sooner in every seed",
            "neither the loss at the end nor the step ... favours the smaller rate",
            f"lower in {lower}, sooner in {sooner} of {n}",
        )
    else:
        missing("exercise 3", "the lr and lr/2 rows and their counts")
    return broken
