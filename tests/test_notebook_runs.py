"""Each notebook run once, top to bottom in one kernel, for two checks:

1. **The exercises answer back**: right after an exercise's last solution cell a probe cell calls
   ``helpers.exercises.feedback`` on expressions over the solution's variables (or on values read from what the
   solution printed), and ``exercises.correct`` (which, like ``check``, reads the calling cell's globals) on the
   solution's value: each check accepts the value its own worked solution computes and rejects at least two typical
   wrong answers with the message meant for them; the stored check cells (``answer = None``) say "write your answer
   first".
2. **Determinism**: this run and the book build's run (``build/jupyter_execute``, which CI makes before the tests),
   two processes, print the same numbers: everything a cell prints to stdout, every text result and every folded
   solution's printed answer, with durations and memory addresses masked (the only legitimate differences). Without a
   book build (a maintainer's ``pytest``), a second plain run stands in for the book's.

The run uses the book's static widgets (``HELPERS_STATIC_WIDGETS=1``), so the two runs print alike. Both checks live in
this one file so that a parallel test run (pytest-xdist, ``--dist loadfile``) gives them to one worker, which runs
each notebook once for both.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_outputs import cell_texts

from helpers import exercises

ROOT = Path(__file__).resolve().parents[1]
CHECKED = {exercise[:2] for exercise in exercises.EXERCISES}
NOTEBOOKS = [
    path for path in sorted((ROOT / "notebooks").glob("0*.ipynb")) if path.name[:2] in CHECKED
]


def _finite_rates(text):
    """01.3: the learning rates whose printed line ends "after 50 updates" (w finite after 50 updates)."""
    return [
        float(rate) for rate in re.findall(r"^lr (\S+): .* after 50 updates", text, re.MULTILINE)
    ]


def _angles(text):
    """03.4: the printed angle to E g of each rule."""
    return {
        name: float(a)
        for name, a in re.findall(r"(\S+) clipping at c = \S+: angle to E g = ([\d.]+)°", text)
    }


def _separable(text, prefix):
    """04.2: the printed verdicts of one block: (separable, lower in every seed, all)."""
    verdicts = [
        line for line in text.splitlines() if line.startswith("at their best") == (prefix == "best")
    ]
    verdicts = [line for line in verdicts if " vs " in line]
    return (
        sum("not separable" not in v for v in verdicts),
        sum("lower in 5/5" in v or "lower in 3/3" in v for v in verdicts),
        len(verdicts),
    )


def _lengths(text):
    """06.2: the printed update lengths (per replica, after the sum) for R = 1, 2, 4, 8, as two lists."""
    rows = re.findall(r"R = \d+: per replica ([\d.]+)·c, after the sum ([\d.]+)·c", text)
    return [float(a) for a, _ in rows], [float(b) for _, b in rows]


# exercise -> text of its solution (markdown and printed output) -> (the solution's value, [(wrong, words)]),
# each an expression evaluated in the notebook's kernel.
PROBES = {
    "01.1": lambda text: (
        "w_overflow",
        [("-w_overflow", "positive"), ("float(np.finfo(np.float64).max) ** 0.01", "float64")],
    ),
    "01.2": lambda text: (
        re.search(r"1/\\gamma = (\d+)", text)[1],
        [("0.25", "that is γ"), ("1.0", "tanh")],
    ),
    "01.3": lambda text: (
        f"({'Yes, with `1e-4`' in text}, {max(_finite_rates(text))!r})",
        [
            (f"(True, {10 * max(_finite_rates(text))!r})", "(b) at that learning rate w still"),
            (f"(False, {max(_finite_rates(text))!r})", "(a) run it"),
        ],
    ),
    "02.1": lambda text: (
        "measured_norms[0] / measured_norms[-1]",
        [
            ("rho ** length", "one factor ρ too many"),
            ("measured_norms[-1] / measured_norms[0]", "upside down"),
        ],
    ),
    "02.2": lambda text: (
        '"GRU" if spread(gru_factors) < simple_spread else "SimpleRNN"',
        [
            ('"SimpleRNN" if spread(gru_factors) < simple_spread else "GRU"', "only path"),
            ('"the same"', "they differ"),
        ],
    ),
    "02.3": lambda text: (
        '"the steps are half as long, the norms are not smaller"',
        [("3", "answered in words"), ('"  "', "answered in words")],
    ),
    "03.1": lambda text: (
        '"clipvalue" if [float(v) for v in by_norm_scalars] == [float(v) for v in by_value_scalars] else "neither"',
        [('"global_clipnorm"', "one common factor"), ('"neither"', "|g|")],
    ),
    "03.2": lambda text: ("max(turns)", [("np.radians(max(turns))", "radians"), ("90", "sign")]),
    "03.3": lambda text: (
        "learning_rate * 10.0",
        [("10.0", "learning rate times it"), ("sizes['unclipped'].max()", "unclipped run's")],
    ),
    "03.4": lambda text: (
        repr(max(_angles(text), key=_angles(text).get)),
        [
            (repr(min(_angles(text), key=_angles(text).get)), "re-weight"),
            ('"the same"', "they differ"),
        ],
    ),
    "04.1": lambda text: (
        "(clipped, int(np.sum(tight_final < none_final)))",
        [
            ("(100 * clipped, int(np.sum(tight_final < none_final)))", "(a) that is a percentage"),
            ("(clipped, int(np.sum(tight_final > none_final)))", "(b) that counts the seeds where"),
        ],
    ),
    "04.2": lambda text: (
        f"({_separable(text, 'first')[0]}, {_separable(text, 'best')[0]})",
        [
            (
                f"({_separable(text, 'first')[1]}, {_separable(text, 'best')[0]})",
                "(a) that counts only the pairs where the first ends lower",
            ),
            (
                f"({_separable(text, 'first')[0]}, {_separable(text, 'best')[2]})",
                "(b) not every pair is separable",
            ),
        ],
    ),
    "04.3": lambda text: (
        '(adam_steps([g * 0.1])[0][0] / adam_steps([g])[0][0], "smaller" if np.all(spike < clipped) else "larger")',
        [
            ('(0.1, "smaller")', "(a) that is plain SGD's ratio"),
            ('(adam_steps([g * 0.1])[0][2] / adam_steps([g])[0][2], "the same")', "near ε̂"),
            ('(1.0, "the same")', "(b) Adam's v keeps the spike"),
        ],
    ),
    "05.1": lambda text: (
        "(np.mean(bad > bad.mean() / 2), np.mean(bad > 10 * bad.mean()), learned(bad_runs))",
        [
            (
                "(100 * np.mean(bad > bad.mean() / 2), np.mean(bad > 10 * bad.mean()), learned(bad_runs))",
                "(a) that is a percentage",
            ),
            (
                "(np.mean(bad > 10 * bad.mean()), np.mean(bad > bad.mean() / 2), 3 - learned(bad_runs))",
                "(c) that counts the runs that did not learn",
            ),
        ],
    ),
    "05.2": lambda text: (
        '(np.mean(seed1 > p90), "higher" if p90[-1] > C_FASHION else "lower")',
        [
            (
                '(np.mean(seed1 > np.array([np.percentile(seed1[: t + 1], 10) for t in range(seed1.size)])), "higher")',
                "(a) that is AutoClip with p = 10",
            ),
            ('(np.mean(seed1 > p90), "lower")', "(b) a 90th percentile is above"),
        ],
    ),
    "05.3": lambda text: (
        '(top.split("/", 1)[1], int(np.sum(unit_ratios[top] > 0.1)))',
        [
            (
                '(top.split("/", 1)[1], int(np.sum(unit_ratios[top] > 0.01)))',
                "(b) that is the count at",
            ),
            (
                '("softmax/bias", int(np.sum(unit_ratios[top] > 0.1)))',
                "(a) AGC skips the final layer",
            ),
        ],
    ),
    "06.1": lambda text: (
        "(effective, count)",
        [
            ("(C * 2.0**15, count)", "(a) that is c·S"),
            ("(effective, int(np.sum(norms > C)))", "(b) that counts the steps above c;"),
        ],
    ),
    "06.2": lambda text: (
        repr(_lengths(text)),
        [
            (repr(_lengths(text)[::-1]), "(a) that is clipping after the sum"),
            (repr((_lengths(text)[0],) * 2), "(b) that is per-replica clipping"),
        ],
    ),
    "05.4": lambda text: (
        "last / first",
        [("growing[-1] / growing[0]", "how much the norm grew"), ("1.05 ** 200", "1.05^200")],
    ),
}

PROBE_CELL = """import json as _json
from helpers import exercises as _exercises
_probe = [[_e, *_exercises.feedback({exercise!r}, eval(_e), globals()).__dict__.values()] for _e in {expressions!r}]
_probe.append(_exercises.correct({exercise!r}, eval({expressions!r}[0])))  # reads this cell's globals, as check does
print("PROBE" + _json.dumps(_probe))"""


def _text(cell) -> str:
    """A cell's markdown, or what it printed and displayed as text."""
    if cell.cell_type == "markdown":
        return cell.source
    parts = [o.get("text", "") for o in cell.outputs if o["output_type"] == "stream"]
    parts += [o["data"].get("text/plain", "") for o in cell.outputs if "data" in o]
    return "\n".join(parts)


def _solutions(notebook) -> dict[str, list[int]]:
    """Exercise id -> the indices of its solution cells."""
    number, found = None, {}
    for index, cell in enumerate(notebook.cells):
        if "check" in cell.metadata.get("tags", []):
            number = re.search(r'exercises\.check\("(\d\d\.\d+)"', cell.source)[1]
        elif "solution" in cell.metadata.get("tags", []):
            found.setdefault(number, []).append(index)
    return found


def test_every_checked_exercise_has_a_probe():
    assert set(PROBES) == set(exercises.EXERCISES)


@functools.cache
def run_with_probes(path: Path):
    """``(executed notebook, stored check texts, probe results)``: ``path`` executed top to bottom in one kernel, as the
    book build executes it (``HELPERS_STATIC_WIDGETS=1``: widgets print their static image), a probe cell run right
    after each exercise's last solution cell and taken out again. Cached: the determinism test below compares this run's
    printed lines with the book's run, so each notebook runs once here for both."""
    notebook = nbformat.read(path, as_version=4)
    solutions = _solutions(notebook)
    last = {cells[-1]: exercise for exercise, cells in solutions.items()}
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    results, stored = {}, []
    with _static_widgets(), client.setup_kernel():
        for index, cell in list(enumerate(notebook.cells)):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
            if "check" in cell.metadata.get("tags", []):
                stored.append(_text(cell))
            if index in last:
                exercise = last[index]
                text = "\n".join(_text(notebook.cells[i]) for i in solutions[exercise])
                right, wrongs = PROBES[exercise](text)
                probe = nbformat.v4.new_code_cell(
                    PROBE_CELL.format(
                        exercise=exercise, expressions=[right] + [w for w, _ in wrongs]
                    )
                )
                notebook.cells.append(probe)  # nbclient stores the executed cell back at its index
                client.execute_cell(probe, len(notebook.cells) - 1)
                notebook.cells.pop()
                printed = _text(probe)
                assert printed.startswith("PROBE"), f"{exercise}: the probe failed: {probe.outputs}"
                *judged, read_globals = json.loads(printed[len("PROBE") :])
                assert read_globals, (
                    f"{exercise}: correct(), reading the cell's globals, rejects the solution's value"
                )
                results[exercise] = (judged, wrongs)
    return notebook, stored, results


@contextlib.contextmanager
def _static_widgets():
    """Kernels started inside get ``HELPERS_STATIC_WIDGETS=1``, as the book's do."""
    before = os.environ.get("HELPERS_STATIC_WIDGETS")
    os.environ["HELPERS_STATIC_WIDGETS"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HELPERS_STATIC_WIDGETS")
        else:
            os.environ["HELPERS_STATIC_WIDGETS"] = before


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name[:2] for p in NOTEBOOKS])
def test_checks_accept_each_solution_and_name_typical_mistakes(path):
    _, stored, results = run_with_probes(path)
    assert all(text.startswith("Write your answer first") for text in stored), stored
    assert set(results) == {i for i in exercises.EXERCISES if i[:2] == path.name[:2]}
    for exercise, ((right, *rejected), wrongs) in results.items():
        assert right[1], f"{exercise}: the solution's value {right[0]} is not accepted: {right[2]}"
        for (expression, correct, message), (_, words) in zip(rejected, wrongs, strict=True):
            assert not correct and words in message, (
                f"{exercise}: {expression} gave {message!r}, not {words!r}"
            )


BOOK_EXECUTED = ROOT / "build" / "jupyter_execute" / "notebooks"
MASKS = [
    (re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\s?(?:ms|s|sec|seconds|min)\b"), "<duration>"),
    (re.compile(r"0x[0-9a-f]{6,}"), "<address>"),
]


def printed_text(notebook) -> list[str]:
    """What each code cell of an executed notebook printed, masked."""
    texts = []
    for index, text in cell_texts(notebook):
        for pattern, mask in MASKS:
            text = pattern.sub(mask, text)
        texts.append(f"[cell {index}] {text}")
    return texts


def other_run(path: Path):
    """The book build's executed copy of ``path``, or a fresh run of it when there is no build."""
    if (BOOK_EXECUTED / path.name).is_file():
        return nbformat.read(BOOK_EXECUTED / path.name, as_version=4)
    notebook = nbformat.read(path, as_version=4)
    with _static_widgets():
        NotebookClient(
            notebook,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name[:2] for p in NOTEBOOKS])
def test_notebook_prints_the_same_numbers_twice(path):
    first = printed_text(run_with_probes(path)[0])
    second = printed_text(other_run(path))
    assert first, f"{path.name} printed nothing to compare"
    assert first == second
