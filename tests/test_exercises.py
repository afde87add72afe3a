"""helpers.exercises without running a notebook: every check answers ``None`` with "write your answer first", a
wrong type, an unknown exercise, a missing or changed notebook variable with a message (never a traceback); the checks
that need no notebook state accept the right value and name typical mistakes; the notebooks' check cells match the
registered exercises, and every variable a check reads is defined in its notebook before the check cell.

That each check accepts its solution's own value, computed in the executed notebook, and rejects typical wrong
answers there: tests/test_notebook_runs.py.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from helpers import exercises
from helpers.exercises import notebook06
from helpers.exercises.core import Exercise, NotReady, Part, judge
from helpers.student_copy import CHECK_LINE

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {path.name[:2]: path for path in sorted((ROOT / "notebooks").glob("0*.ipynb"))}
IDS = sorted(exercises.EXERCISES)
CHECK_CALL = re.compile(r'exercises\.check\("(\d\d\.\d+)", answer\)')


def _typed(part: Part):
    """A value of the right type for ``part`` (not necessarily right)."""
    return {"number": 1.0, "fraction": 0.5, "count": 1, "yes/no": True, "list": [1.0, 2.0]}.get(
        part.kind
    ) or next(iter(part.choices))


def _typed_answer(exercise: Exercise):
    values = [_typed(part) for part in exercise.parts]
    return "my answer" if not values else values[0] if len(values) == 1 else tuple(values)


@pytest.mark.parametrize("exercise", IDS)
def test_none_says_write_your_answer_first(exercise):
    result = exercises.feedback(exercise, None, {})
    assert not result.correct
    assert result.message.startswith("Write your answer first: replace None with ")
    assert f'hint("{exercise}")' in result.message


@pytest.mark.parametrize("exercise", IDS)
def test_a_wrong_type_is_named_not_a_traceback(exercise):
    spec = exercises.EXERCISES[exercise]
    if not spec.parts:
        wrong, expected = 3, "is answered in words"
    elif len(spec.parts) > 1:
        wrong, expected = 1.0, f"expects {len(spec.parts)} values"
    else:
        wrong, expected = ("forty" if spec.parts[0].kind != "choice" else 3), "expected "
    result = exercises.feedback(exercise, wrong, {})
    assert not result.correct and expected in result.message, result.message
    if len(spec.parts) > 1:  # the right number of values, one of the wrong type
        result = exercises.feedback(exercise, (object(),) + _typed_answer(spec)[1:], {})
        assert not result.correct and result.message.startswith("Not yet.\n(a) expected "), (
            result.message
        )


def test_numbers_are_read_from_numpy_and_tensors_but_not_bools_or_strings():
    import tensorflow as tf

    right = float(np.finfo(np.float32).max) ** (1 / 100)
    for value in (right, np.float32(right), np.array(right), np.array([right]), tf.constant(right)):
        assert exercises.feedback("01.1", value, {}).correct, type(value)
    for value in (True, "2.43", [right, right], {"w": right}):
        message = exercises.feedback("01.1", value, {}).message
        assert message.startswith("Not yet: expected a number"), message
    assert "Write the number without quotes." in exercises.feedback("01.1", "2.43", {}).message


def test_an_unknown_exercise_is_named_with_the_ones_there_are(capsys):
    message = exercises.feedback("03.9", 1.0, {}).message
    assert message.startswith("There is no checked exercise '03.9'.")
    assert "03.1, 03.2, 03.3, 03.4" in message and "01.1" not in message
    assert 'Did you mean "0' in message
    assert 'a string such as "03.2"' in exercises.feedback(3.2, 1.0, {}).message
    exercises.hint("9.9")
    assert capsys.readouterr().out.startswith("There is no checked exercise '9.9'.")


@pytest.mark.parametrize("exercise", [i for i in IDS if exercises.EXERCISES[i].needs])
def test_a_missing_notebook_variable_names_its_section(exercise):
    spec = exercises.EXERCISES[exercise]
    result = exercises.feedback(exercise, _typed_answer(spec), {})
    name, where = spec.needs[0]
    assert not result.correct
    assert result.message.startswith(f"This check reads `{name}` ({where})"), result.message
    assert "Run All Above Selected Cell" in result.message


@pytest.mark.parametrize("exercise", [i for i in IDS if exercises.EXERCISES[i].needs])
def test_a_changed_notebook_variable_is_a_message_not_a_traceback(exercise):
    spec = exercises.EXERCISES[exercise]
    namespace = {name: "changed" for name, _ in spec.needs}
    result = exercises.feedback(exercise, _typed_answer(spec), namespace)
    assert not result.correct
    assert result.message.startswith("The check could not compute the expected answer from"), (
        result.message
    )
    assert "Run All Cells" in result.message


def test_check_prints_and_reads_the_callers_variables(capsys):
    namespace = {}
    exec(
        "from helpers import exercises\nanswer = 0.25\nresult = exercises.check('01.2', answer)",
        namespace,
    )
    assert namespace["result"] is None
    assert capsys.readouterr().out.startswith("Not yet: that is γ")
    exec("def train_w(*args, **kwargs):\n    raise RuntimeError('boom')", namespace)
    exec("ok = exercises.correct('01.3', (True, 1e-7))", namespace)
    assert (
        namespace["ok"] is False
    )  # train_w found in the caller's globals, and its error is a message
    exercises.hint("01.1")
    hint = capsys.readouterr().out
    assert hint.startswith("Hint for exercise 01.1: ") and "2.4" not in hint


# Exercises whose expected answer needs no notebook state: the right value (worked out here) and typical mistakes.
LARGEST = float(np.finfo(np.float32).max)
GROWING = 1.05 ** np.arange(200)
THRESHOLD_GROWTH = (
    np.percentile(GROWING, 10) / 1.0
)  # the threshold at step 200 over the one at step 1 (= norm 1)
STATELESS = {
    "01.1": (
        [LARGEST**0.01, np.float32(LARGEST) ** np.float32(0.01)],
        [
            (-(LARGEST**0.01), "positive"),
            (float(np.finfo(np.float64).max) ** 0.01, "float64"),
            (math.log(LARGEST) / 100, "natural logarithm"),
            (LARGEST / 100, "100th root"),
        ],
    ),
    "01.2": ([4.0, 4], [(0.25, "that is γ"), (1.0, "tanh")]),
    "02.1": (
        [0.9**79],
        [(0.9**80, "one factor ρ too many"), (0.9**-79, "upside down"), (-(0.9**79), "sign")],
    ),
    "03.1": (
        ["clipvalue", "value", "ClipValue"],
        [("global_clipnorm", "one common factor"), ("neither", "|g|")],
    ),
    "03.2": (
        [45, 44.9],
        [(math.pi / 4, "radians"), (90, "sign"), (30, "is not the largest angle")],
    ),
    "04.3": (
        [(1.0, "smaller"), (1, "shorter")],
        [
            ((0.1, "the same"), "(a) that is plain SGD's ratio"),
            ((0.1, "the same"), "(b) Adam's v keeps the spike"),
            ((10.0, "larger"), "(b) m carries the spike"),
        ],
    ),
    "05.4": (
        [THRESHOLD_GROWTH],
        [
            (GROWING[-1], "how much the norm grew"),
            (1.05**200, "1.05^200"),
            (GROWING[-1] / np.percentile(GROWING, 10), "how much more the norm grew"),
        ],
    ),
}


@pytest.mark.parametrize("exercise", sorted(STATELESS))
def test_checks_without_notebook_state_accept_the_answer_and_name_mistakes(exercise):
    rights, wrongs = STATELESS[exercise]
    for right in rights:
        result = exercises.feedback(exercise, right, {})
        assert result.correct and result.message.startswith("Correct"), (right, result.message)
    for wrong, words in wrongs:
        result = exercises.feedback(exercise, wrong, {})
        assert not result.correct and words in result.message, (wrong, result.message)
        assert f'exercises.hint("{exercise}") gives a hint.' in result.message


def _toy(kind="fraction", mistakes=(), compute=None, **part):
    values = {"x": 0.3, "other": 0.6, "same": 0.3}
    return Exercise(
        "99.1",
        parts=(Part("the share", kind, "x", mistakes=mistakes, **part),),
        compute=compute or (lambda namespace: values),
    )


def test_generic_mistakes_of_a_fraction_and_the_tolerance():
    toy = _toy()
    assert judge(toy, 0.305, {}).message == "Correct (to within ±0.01)."
    assert "that is a percentage" in judge(toy, 30, {}).message
    assert "that is the complement" in judge(toy, 0.7, {}).message
    assert "1.5 is not a fraction" in judge(toy, 1.5, {}).message
    assert "wrong sign" in judge(toy, -0.3, {}).message
    assert "0.5 is not the share (to within ±0.01)." in judge(toy, 0.5, {}).message


def test_a_mistake_equal_to_the_answer_is_never_named():
    toy = _toy(mistakes=(("same", "never shown"), ("other", "that is the other one")))
    assert judge(toy, 0.3, {}).correct
    assert "that is the other one" in judge(toy, 0.6, {}).message


def test_counts_are_whole_and_exact_and_numbers_relative():
    assert "expected a whole number" in judge(_toy("count"), 0.5, {}).message
    count = _toy("count", compute=lambda namespace: {"x": 3})
    assert judge(count, 3.0, {}).correct and not judge(count, 4, {}).correct
    number = _toy("number", compute=lambda namespace: {"x": 200.0}, tolerance=0.05)
    assert judge(number, 209, {}).message == "Correct (to within 5 %)."
    assert "(to within 5 %)" in judge(number, 211, {}).message


def test_not_ready_is_passed_on_and_open_questions_list_what_to_mention():
    def not_yet(namespace):
        raise NotReady("Train it first.")

    assert judge(_toy(compute=not_yet), 0.3, {}).message == "Train it first."
    spec = exercises.EXERCISES["02.3"]
    result = exercises.feedback("02.3", "the steps are shorter, the norms are not smaller", {})
    assert result.correct and result.message.startswith(
        "Compare your answer with what a good answer mentions:"
    )
    assert all(item in result.message for item in spec.mentions)


def test_parts_are_answered_one_by_one():
    result = exercises.feedback("04.3", (1.0, "larger"), {})
    assert result.message.startswith("Not yet.\n(a) correct.\n(b) m carries the spike"), (
        result.message
    )
    result = exercises.feedback("04.3", (1.0, "smaller"), {})
    assert result.message.startswith(
        "Correct (a: to within 1 %).\nNow the why: a good answer mentions\n"
    )


def test_parts_and_kinds_are_checked_when_an_exercise_is_written():
    with pytest.raises(ValueError, match="kind must be one of"):
        Part("x", "percent", "x")
    with pytest.raises(ValueError, match="choices are given for"):
        Part("x", "choice", "x")


# The notebooks: check cells, registered exercises and the variables the checks read agree.
def _check_cells(notebook) -> dict[str, int]:
    """Exercise id -> the index of its check cell."""
    cells = enumerate(notebook.cells)
    return {
        CHECK_CALL.search(c.source)[1]: i for i, c in cells if "check" in c.metadata.get("tags", [])
    }


def test_every_registered_exercise_has_its_check_cell_and_every_exercise_is_registered():
    for number, path in NOTEBOOKS.items():
        registered = {i for i in IDS if i.startswith(f"{number}.")}
        if not registered:
            continue  # a notebook whose exercises have no checks yet
        notebook = nbformat.read(path, as_version=4)
        checks = _check_cells(notebook)
        assert set(checks) == registered, (
            f"{path.name}: check cells {sorted(checks)}, registered {sorted(registered)}"
        )
        exercise_cells = [
            c for c in notebook.cells if c.cell_type == "markdown" and CHECK_LINE in c.source
        ]
        assert len(exercise_cells) == len(registered), (
            f"{path.name}: each exercise says '{CHECK_LINE} …' once"
        )
        for index in checks.values():
            before = notebook.cells[index - 1]
            assert before.cell_type == "markdown" and CHECK_LINE in before.source, (
                path.name,
                index,
            )


def _bound_names(source: str) -> set[str]:
    """The names a code cell binds at top level or in loops/with blocks (magics and shell lines dropped)."""
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


@pytest.mark.parametrize("exercise", [i for i in IDS if exercises.EXERCISES[i].needs])
def test_every_variable_a_check_reads_is_defined_by_the_lesson_before_its_check_cell(exercise):
    notebook = nbformat.read(NOTEBOOKS[exercise[:2]], as_version=4)
    index = _check_cells(notebook)[exercise]
    lesson = [
        c for c in notebook.cells[:index] if c.cell_type == "code" and not c.metadata.get("tags")
    ]
    bound = set().union(*(_bound_names(c.source) for c in lesson))
    missing = [name for name, _ in exercises.EXERCISES[exercise].needs if name not in bound]
    assert not missing, (
        f"{exercise} reads {missing}, which no lesson cell before its check cell defines"
    )


def test_a_list_answer_is_compared_entry_by_entry():
    """The "list" kind, on the shape notebook 06's exercise 2 will need (lengths for R = 1, 2, 4, 8)."""
    replicas = Part(
        "the update's length in units of c, per-replica clipping, R = 1, 2, 4, 8",
        "list",
        "per_replica",
        mistakes=(
            (
                "after_sum",
                "that is clipping after the sum; each replica clips its own part to c, "
                "and R orthogonal parts of length c add up to √R·c (×√R).",
            ),
            ("unclipped", "that is the unclipped sum, 2c·√R: each replica clips its part first."),
        ),
    )
    toy = Exercise("99.2", parts=(replicas,), compute=notebook06.per_replica_lengths)
    assert judge(toy, [1, 1.414, 2, 2.83], {}).message == "Correct (to within 1 % each)."
    assert judge(toy, np.sqrt([1, 2, 4, 8]), {}).correct
    assert "(×√R)" in judge(toy, [1, 1, 1, 1], {}).message
    assert "the unclipped sum" in judge(toy, [2, 2.83, 4, 5.66], {}).message
    assert "expected 4 numbers" in judge(toy, [1, 1.414], {}).message
    assert "entries 3 of your list" in judge(toy, [1, 1.414, 3, 2.83], {}).message
    assert judge(toy, "1, 1.4, 2, 2.8", {}).message.startswith(
        "Not yet: expected a list of numbers"
    )
    assert judge(toy, [1, "x", 2, 3], {}).message.startswith("Not yet: expected a list of numbers")
