"""The house format of every ``notebooks/0*.ipynb``: stored clean, presentable as slides, with the lesson frame.

Checked for each notebook: no outputs or execution counts; slide metadata on every cell in the values
jupyterlab-slideshow understands (``""`` for "continue the slide": it never shows a cell marked ``"-"``); the title
cell a "slide", every heading starting a slide or sub-slide (one idea per slide); code lines at most 88 characters
(and ruff's config for ``notebooks/`` says 88 too); the sections Overview (numbered goals), Prerequisites (a table),
Setup, Summary, Exercises, References in that order; every exercise followed right away by its check cell, if it has
one, then its solution; every solution cell in the one convention of ``notes/COMMON.md`` (tag ``solution``, source
and outputs hidden, skipped in the slides, first line exactly ``# Solution to exercise N`` or ``**Solution to exercise
N**``); every check cell in its own (tag ``check``, visible, skipped in the slides, ``answer = None`` stored and
``exercises.check("NN.N", answer)`` naming this notebook and exercise); the setup sets
``TF_CPP_MIN_LOG_LEVEL=2`` and ``TF_ENABLE_ONEDNN_OPTS=0`` before TensorFlow or Keras is imported, then checks
versions and seeds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
# "" is "continue the current slide" (what JupyterLab's property inspector writes for "-"); jupyterlab-slideshow
# 0.3.4 treats an unknown value such as "-" as no slide at all, so such a cell is never shown.
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", ""}
MAX_LINE = 88
SECTIONS = ("Overview", "Prerequisites", "Setup", "Summary", "Exercises", "References")
TF_IMPORT = re.compile(r"^\s*(import|from)\s+(tensorflow|keras)\b")
ENV_SET = {
    name: re.compile(
        rf"""os\.environ\[\s*["']{name}["']\s*\]\s*=\s*["']{value}["']"""
        rf"""|os\.environ\.setdefault\(\s*["']{name}["']\s*,\s*["']{value}["']\s*\)"""
    )
    for name, value in (("TF_CPP_MIN_LOG_LEVEL", "2"), ("TF_ENABLE_ONEDNN_OPTS", "0"))
}
SOLUTION_FIRST_LINE = {
    "code": r"# Solution to exercise (\d+)",
    "markdown": r'<details class="solution"><summary>Solution to exercise (\d+)</summary>',
}
#: What JupyterLab leaves alone when the notebook runs: a run drops ``outputs_hidden`` (code) and un-hides every
#: markdown cell, so code solutions keep only ``source_hidden`` (``folded()`` closes the answer) and markdown ones fold
#: themselves in ``<details>``.
SOLUTION_HIDDEN = {"code": {"source_hidden": True}, "markdown": None}
EXERCISE = re.compile(
    r"^(?:#{2,4}\s+Exercise\s+(\d+)\b|\s{0,3}(\d+)\.\s)", re.MULTILINE | re.IGNORECASE
)
CHECK_CALL = re.compile(
    r"""^exercises\.check\(\s*"(\d\d)\.(\d+)"\s*,\s*answer\s*\)""", re.MULTILINE
)


def _ids(paths):
    return [path.name for path in paths]


@pytest.fixture(params=NOTEBOOKS, ids=_ids(NOTEBOOKS))
def nb(request):
    return nbformat.read(request.param, as_version=4)


def _slide_type(cell) -> str | None:
    return cell.metadata.get("slideshow", {}).get("slide_type")


def _first_line(cell) -> str:
    return cell.source.splitlines()[0] if cell.source.strip() else ""


def _heading(cell) -> tuple[int, str] | None:
    """(level, text) when a markdown cell starts with an ATX heading."""
    if cell.cell_type != "markdown":
        return None
    match = re.match(r"\s*(#{1,6})\s+(.+)", cell.source)
    return (len(match[1]), match[2].strip()) if match else None


def _section_positions(nb) -> dict[str, int]:
    positions = {}
    for index, cell in enumerate(nb.cells):
        heading = _heading(cell)
        if heading and heading[0] == 2:
            for name in SECTIONS:
                if heading[1].lower().startswith(name.lower()) and name not in positions:
                    positions[name] = index
    return positions


def _section(nb, name: str) -> list[tuple[int, object]]:
    """(index, cell) from the level-2 heading ``name`` up to the next level-2 (or level-1) heading."""
    start = _section_positions(nb)[name]
    cells = [(start, nb.cells[start])]
    for index in range(start + 1, len(nb.cells)):
        heading = _heading(nb.cells[index])
        if heading and heading[0] <= 2:
            break
        cells.append((index, nb.cells[index]))
    return cells


def _is_solution(cell) -> bool:
    """Tagged as a solution, or looking like one (so an untagged solution is caught, not ignored)."""
    return "solution" in cell.metadata.get("tags", []) or bool(
        re.match(r"\W*solution\b", _first_line(cell), re.IGNORECASE)
    )


def _solution_problems(cell) -> list[str]:
    """What a solution cell gets wrong against the convention (empty when it follows it)."""
    problems = []
    if "solution" not in cell.metadata.get("tags", []):
        problems.append('no "solution" tag')
    hidden = cell.metadata.get("jupyter")
    if hidden != SOLUTION_HIDDEN.get(cell.cell_type):
        problems.append(f"jupyter metadata is {hidden}, not {SOLUTION_HIDDEN.get(cell.cell_type)}")
    if cell.cell_type == "markdown" and not cell.source.rstrip().endswith("</details>"):
        problems.append("the answer is not folded in <details>")
    if _slide_type(cell) != "skip":
        problems.append(f"slide_type is {_slide_type(cell)!r}, not 'skip'")
    pattern = SOLUTION_FIRST_LINE.get(cell.cell_type)
    if pattern is None or not re.fullmatch(pattern, _first_line(cell)):
        wanted = (
            "# Solution to exercise N"
            if cell.cell_type == "code"
            else SOLUTION_FIRST_LINE["markdown"]
        )
        problems.append(f"first line {_first_line(cell)[:60]!r} is not exactly {wanted!r}")
    return problems


def _is_check(cell) -> bool:
    """Tagged as a check, or calling one (so an untagged check cell is caught, not ignored)."""
    return "check" in cell.metadata.get("tags", []) or bool(
        cell.cell_type == "code" and CHECK_CALL.search(cell.source)
    )


def _check_problems(cell, notebook_number: str) -> list[str]:
    """What a check cell gets wrong against the convention (empty when it follows it)."""
    problems = []
    if cell.cell_type != "code":
        problems.append(f"it is a {cell.cell_type} cell, not code")
    if "check" not in cell.metadata.get("tags", []):
        problems.append('no "check" tag')
    if _slide_type(cell) != "skip":
        problems.append(f"slide_type is {_slide_type(cell)!r}, not 'skip'")
    if any(
        cell.metadata.get("jupyter", {}).get(key) for key in ("source_hidden", "outputs_hidden")
    ):
        problems.append("hidden: the learner writes the answer there")
    if not re.search(r"^answer = None\b", cell.source, re.MULTILINE):
        problems.append("it does not store answer = None")
    calls = CHECK_CALL.findall(cell.source)
    if len(calls) != 1 or calls[0][0] != notebook_number:
        problems.append(
            f'it must call exercises.check("{notebook_number}.N", answer) once, calls {calls}'
        )
    return problems


def _check_number(cell) -> int | None:
    calls = CHECK_CALL.findall(cell.source)
    return int(calls[0][1]) if len(calls) == 1 else None


def _solution_number(cell) -> int | None:
    match = re.fullmatch(SOLUTION_FIRST_LINE.get(cell.cell_type, "$^"), _first_line(cell))
    return int(match[1]) if match else None


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no 0*.ipynb"


def test_stored_without_outputs_or_execution_counts(nb):
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count)
    ]
    assert not dirty, (
        f"code cells {dirty} carry outputs or execution counts: clear them before committing"
    )


def test_every_cell_has_slide_metadata(nb):
    dashes = [i for i, c in enumerate(nb.cells) if _slide_type(c) == "-"]
    assert not dashes, (
        f"cells {dashes} have slide_type '-', which jupyterlab-slideshow never shows: use '' (continue the slide)"
    )
    missing = [
        (i, _slide_type(c)) for i, c in enumerate(nb.cells) if _slide_type(c) not in SLIDE_TYPES
    ]
    assert not missing, (
        f"cells lack metadata.slideshow.slide_type in {sorted(SLIDE_TYPES)}: {missing}"
    )


def test_title_cell_is_a_slide(nb):
    first = nb.cells[0]
    assert _heading(first) is not None and _heading(first)[0] == 1, (
        "the first cell must be the '# title' markdown"
    )
    assert _slide_type(first) == "slide", (
        f"the title cell's slide_type is {_slide_type(first)!r}, not 'slide'"
    )


def test_every_heading_starts_a_slide(nb):
    """One idea per slide: a heading opens a new slide or sub-slide instead of sharing one."""
    wrong = [
        (i, _heading(c)[1][:40])
        for i, c in enumerate(nb.cells)
        if _heading(c) and _slide_type(c) not in {"slide", "subslide"}
    ]
    assert not wrong, f"headings not starting a slide/subslide: {wrong}"


def test_code_lines_fit_a_projected_slide(nb):
    long = [
        (i, n + 1, len(line))
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for n, line in enumerate(c.source.splitlines())
        if len(line) > MAX_LINE
    ]
    assert not long, f"code lines over {MAX_LINE} characters as (cell, line, length): {long}"


def test_ruff_lints_notebooks_at_88_characters():
    """`ruff check .` from the root applies notebooks/ruff.toml (line-length 88) to the notebooks."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (requirements-dev.txt pins it)")
    settings = subprocess.run(
        [ruff, "check", "--show-settings", str(NOTEBOOKS[0].relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.search(rf"^linter\.line_length = {MAX_LINE}$", settings, re.MULTILINE), (
        "ruff's notebook line length"
    )
    assert "E501" in settings and "line-too-long" in settings, (
        "ruff does not select E501 for the notebooks"
    )


def test_has_the_lesson_frame_in_order(nb):
    positions = _section_positions(nb)
    missing = [name for name in SECTIONS if name not in positions]
    assert not missing, f"missing '## ' sections: {missing}"
    order = [positions[name] for name in SECTIONS]
    assert order == sorted(order), (
        f"sections out of order: {dict(zip(SECTIONS, order, strict=True))}"
    )
    overview = "\n".join(c.source for _, c in _section(nb, "Overview"))
    assert re.search(r"^1\.\s", overview, re.MULTILINE), "Overview must list numbered goals"
    prerequisites = "\n".join(c.source for _, c in _section(nb, "Prerequisites"))
    assert re.search(r"^\|.*\|\s*$", prerequisites, re.MULTILINE), "Prerequisites must hold a table"
    assert re.search(r"time to learn", prerequisites, re.IGNORECASE), (
        "Prerequisites must say the time to learn"
    )


def test_every_solution_cell_follows_the_convention(nb):
    wrong = {
        i: problems
        for i, c in enumerate(nb.cells)
        if _is_solution(c) and (problems := _solution_problems(c))
    }
    assert not wrong, (
        f"solution cells break the convention (notes/COMMON.md) as {{cell: problems}}: {wrong}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_check_cell_follows_the_convention(path):
    nb, number = nbformat.read(path, as_version=4), path.name[:2]
    wrong = {
        i: problems
        for i, c in enumerate(nb.cells)
        if _is_check(c) and (problems := _check_problems(c, number))
    }
    assert not wrong, f"check cells break the convention as {{cell: problems}}: {wrong}"


def test_every_exercise_has_its_solution_right_after(nb):
    """Each exercise is stated in its own markdown cell ("### Exercise N" or "N. ..."), and the cells right after
    it are its check cell for exercise N, if it has one, then the solution(s) to exercise N; exercises are numbered
    1, 2, ... and no check or solution sits anywhere else."""
    cells = _section(nb, "Exercises")
    exercises = []  # (cell index, exercise number)
    for index, cell in cells:
        if cell.cell_type != "markdown" or _is_solution(cell):
            continue
        numbers = [int(a or b) for a, b in EXERCISE.findall(cell.source)]
        assert len(numbers) <= 1, (
            f"cell {index} states exercises {numbers}: one exercise per cell, solution after it"
        )
        exercises += [(index, n) for n in numbers]
    assert exercises, "the Exercises section states no exercise ('### Exercise N' or 'N. ...')"
    numbers = [n for _, n in exercises]
    assert numbers == list(range(1, len(numbers) + 1)), (
        f"exercises numbered {numbers}, not 1..{len(numbers)}"
    )
    placed, checked = set(), set()
    for index, number in exercises:
        if index + 1 < len(nb.cells) and _is_check(nb.cells[index + 1]):
            got = _check_number(nb.cells[index + 1])
            assert got == number, (
                f"exercise {number} (cell {index}) is followed by the check of exercise {got}"
            )
            checked.add(index + 1)
            index += 1
        following = []
        for after in range(index + 1, len(nb.cells)):
            if not _is_solution(nb.cells[after]):
                break
            following.append(after)
        assert following, f"exercise {number} (cell {index}) is not followed by its solution cell"
        got = {after: _solution_number(nb.cells[after]) for after in following}
        assert set(got.values()) == {number}, (
            f"exercise {number} (cell {index}) is followed by solutions {got}"
        )
        placed.update(following)
    elsewhere = [i for i, c in enumerate(nb.cells) if _is_solution(c) and i not in placed]
    assert not elsewhere, f"solution cells {elsewhere} do not sit right after their exercise"
    stray = [i for i, c in enumerate(nb.cells) if _is_check(c) and i not in checked]
    assert not stray, f"check cells {stray} do not sit right after their exercise"


def test_setup_quiets_tensorflow_before_importing_it(nb):
    code = [
        (i, line)
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for line in c.source.splitlines()
    ]
    first_import = next((n for n, (_, line) in enumerate(code) if TF_IMPORT.match(line)), None)
    assert first_import is not None, "no cell imports tensorflow or keras"
    for name, pattern in ENV_SET.items():
        where = next((n for n, (_, line) in enumerate(code) if pattern.search(line)), None)
        assert where is not None, f"no cell sets os.environ[{name!r}]"
        assert where < first_import, (
            f"{name} is set after TensorFlow/Keras is imported (cell {code[first_import][0]})"
        )
    setup = "\n".join(c.source for _, c in _section(nb, "Setup") if c.cell_type == "code")
    assert "check_versions()" in setup and "seed_everything(" in setup, (
        "Setup must check versions and seed"
    )
