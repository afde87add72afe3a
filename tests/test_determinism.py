"""Re-execution determinism: every notebook, run twice from scratch in two processes, prints the same numbers.

The two runs: the book build's (``build/jupyter_execute``, which CI makes before the tests) and the run
``tests/test_exercises_in_notebooks.py`` makes anyway (``run_with_probes``, widgets in the book's static mode), so no
notebook is executed for this test alone. Without a book build (a maintainer's ``pytest``), a second plain run stands
in for the book's.

Compared: everything a cell prints to stdout, every text result and every folded solution's printed answer, with
durations (a number followed by a time unit, such as ``3.2 s`` or ``41 ms``) and memory addresses masked, since
those are the only legitimate differences. Progress bars go to stderr and widget ids are random, so neither is
compared.
"""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_outputs import cell_texts
from test_exercises_in_notebooks import _static_widgets, run_with_probes

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_prints_the_same_numbers_twice(path):
    first = printed_text(run_with_probes(path)[0])
    second = printed_text(other_run(path))
    assert first, f"{path.name} printed nothing to compare"
    assert first == second
