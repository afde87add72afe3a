"""The house format of every ``notebooks/*.ipynb``: stored clean, presentable as slides, with the lesson frame.

Checked for each notebook: no outputs or execution counts; slide metadata on every cell (jupyterlab-rise), the title
cell a "slide", every heading starting a slide or sub-slide (one idea per slide); the sections Overview (numbered
goals), Prerequisites (a table), Setup, Summary, Exercises, References in that order; every exercise has a solution
and every solution is hidden (a closed ``<details>`` block, or a code cell with hidden source skipped in the slides);
the setup sets ``TF_CPP_MIN_LOG_LEVEL=2`` and ``TF_ENABLE_ONEDNN_OPTS=0`` before TensorFlow or Keras is imported,
then checks versions and seeds.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "-", "notes"}
SECTIONS = ("Overview", "Prerequisites", "Setup", "Summary", "Exercises", "References")
TF_IMPORT = re.compile(r"^\s*(import|from)\s+(tensorflow|keras)\b")
ENV_SET = {
    name: re.compile(
        rf"""os\.environ\[\s*["']{name}["']\s*\]\s*=\s*["']{value}["']"""
        rf"""|os\.environ\.setdefault\(\s*["']{name}["']\s*,\s*["']{value}["']\s*\)"""
    )
    for name, value in (("TF_CPP_MIN_LOG_LEVEL", "2"), ("TF_ENABLE_ONEDNN_OPTS", "0"))
}


def _ids(paths):
    return [path.name for path in paths]


@pytest.fixture(params=NOTEBOOKS, ids=_ids(NOTEBOOKS))
def nb(request):
    return nbformat.read(request.param, as_version=4)


def _slide_type(cell) -> str | None:
    return cell.metadata.get("slideshow", {}).get("slide_type")


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


def _section(nb, name: str) -> list:
    """The cells from the level-2 heading ``name`` up to the next level-2 (or level-1) heading."""
    start = _section_positions(nb)[name]
    cells = [nb.cells[start]]
    for cell in nb.cells[start + 1 :]:
        heading = _heading(cell)
        if heading and heading[0] <= 2:
            break
        cells.append(cell)
    return cells


def _is_hidden_solution(cell) -> bool:
    if cell.cell_type == "markdown":
        text = cell.source.strip()
        return text.startswith("<details") and text.endswith("</details>")
    if cell.cell_type == "code":
        return bool(cell.metadata.get("jupyter", {}).get("source_hidden")) and _slide_type(cell) == "skip"
    return False


def _is_solution(cell) -> bool:
    return "solution" in cell.metadata.get("tags", []) or bool(re.search(r"\bsolution\b", cell.source, re.IGNORECASE))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


def test_stored_without_outputs_or_execution_counts(nb):
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"code cells {dirty} carry outputs or execution counts: clear them before committing"


def test_every_cell_has_slide_metadata(nb):
    missing = [i for i, c in enumerate(nb.cells) if _slide_type(c) not in SLIDE_TYPES]
    assert not missing, f"cells {missing} lack metadata.slideshow.slide_type (one of {sorted(SLIDE_TYPES)})"


def test_title_cell_is_a_slide(nb):
    first = nb.cells[0]
    assert _heading(first) is not None and _heading(first)[0] == 1, "the first cell must be the '# title' markdown"
    assert _slide_type(first) == "slide", f"the title cell's slide_type is {_slide_type(first)!r}, not 'slide'"


def test_every_heading_starts_a_slide(nb):
    """One idea per slide: a heading opens a new slide or sub-slide instead of sharing one."""
    wrong = [
        (i, _heading(c)[1][:40])
        for i, c in enumerate(nb.cells)
        if _heading(c) and _slide_type(c) not in {"slide", "subslide"}
    ]
    assert not wrong, f"headings not starting a slide/subslide: {wrong}"


def test_has_the_lesson_frame_in_order(nb):
    positions = _section_positions(nb)
    missing = [name for name in SECTIONS if name not in positions]
    assert not missing, f"missing '## ' sections: {missing}"
    order = [positions[name] for name in SECTIONS]
    assert order == sorted(order), f"sections out of order: {dict(zip(SECTIONS, order, strict=True))}"
    overview = "\n".join(c.source for c in _section(nb, "Overview"))
    assert re.search(r"^1\.\s", overview, re.MULTILINE), "Overview must list numbered goals"
    prerequisites = "\n".join(c.source for c in _section(nb, "Prerequisites"))
    assert re.search(r"^\|.*\|\s*$", prerequisites, re.MULTILINE), "Prerequisites must hold a table"
    assert re.search(r"time to learn", prerequisites, re.IGNORECASE), "Prerequisites must say the time to learn"


def test_every_exercise_has_a_hidden_solution(nb):
    cells = _section(nb, "Exercises")
    statements = [c for c in cells if c.cell_type == "markdown" and not _is_solution(c)]
    exercises = sum(len(re.findall(r"^\s{0,3}\d+\.\s", c.source, re.MULTILINE)) for c in statements)
    exercises += sum(len(re.findall(r"^#{3,4}\s+Exercise", c.source, re.MULTILINE)) for c in statements)
    assert exercises > 0, "the Exercises section states no exercise (numbered list or '### Exercise' headings)"
    solutions = [c for c in cells if _is_solution(c)]
    visible = [c.source.splitlines()[0][:50] for c in solutions if not _is_hidden_solution(c)]
    assert not visible, f"solutions visible (need <details>...</details>, or hidden source + slide 'skip'): {visible}"
    numbered = {int(n) for c in solutions for n in re.findall(r"solution\s*(\d+)", c.source, re.IGNORECASE)}
    unnumbered = sum(
        1 for c in solutions if c.cell_type == "markdown" and not re.search(r"solution\s*\d", c.source, re.I)
    )
    assert len(numbered) + unnumbered >= exercises, f"{exercises} exercises but solutions only for {sorted(numbered)}"


def test_setup_quiets_tensorflow_before_importing_it(nb):
    code = [(i, line) for i, c in enumerate(nb.cells) if c.cell_type == "code" for line in c.source.splitlines()]
    first_import = next((n for n, (_, line) in enumerate(code) if TF_IMPORT.match(line)), None)
    assert first_import is not None, "no cell imports tensorflow or keras"
    for name, pattern in ENV_SET.items():
        where = next((n for n, (_, line) in enumerate(code) if pattern.search(line)), None)
        assert where is not None, f"no cell sets os.environ[{name!r}]"
        assert where < first_import, f"{name} is set after TensorFlow/Keras is imported (cell {code[first_import][0]})"
    setup = "\n".join(c.source for c in _section(nb, "Setup") if c.cell_type == "code")
    assert "check_versions()" in setup and "seed_everything(" in setup, "Setup must check versions and seed"
